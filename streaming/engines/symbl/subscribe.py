"""Symbl Subscribe API: listen to a live conversation someone else streams (Zoom RTMP, telephony).

``wss://api.symbl.ai/v1/subscribe/{connectionId}?access_token=…`` (https://docs.symbl.ai/docs/subscribe-api,
``shared/api-contracts.md`` §3), or the ``subscriptionUrl`` a managed stream returns: listen-only,
the same messages as the Streaming API. An id with no ongoing call is accepted, then answered with
``{"type": "error", "code": 404, "message": …}``: raised here as :class:`~.client.NotFound` with
Symbl's message, for the session to fail with that reason.
"""
import json
import logging

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .client import NotFound, SymblError, error_for

log = logging.getLogger(__name__)


def subscription_url(client, connection_id):
    return f"{client.ws_url}/v1/subscribe/{connection_id}"


async def subscribe(client, url, on_frame):
    """Relay every frame of the subscription at ``url`` to ``on_frame`` (async) until the conversation
    completes or Symbl closes the socket. Returns True when ``conversation_completed`` arrived.

    Raises :class:`NotFound` for the documented 404, other :class:`SymblError` for a refused handshake.
    """
    for renewed in (False, True):
        token = await client.token(force=renewed)
        separator = "&" if "?" in url else "?"
        try:
            ws = await connect(f"{url}{separator}access_token={token}", proxy=None, max_size=4 * 1024 * 1024)
            break
        except InvalidStatus as exc:
            if exc.response.status_code == 401 and not renewed:
                client.forget_token(token)
                continue
            raise error_for(exc.response.status_code, "Symbl refused the subscription.") from None
    async with ws:
        try:
            async for raw in ws:
                frame = json.loads(raw) if isinstance(raw, str) else None
                if not isinstance(frame, dict):
                    continue
                if frame.get("type") == "error" and str(frame.get("code")) == "404":
                    raise NotFound(str(frame.get("message") or "Subscription not found."), 404)
                await on_frame(frame)
                inner = frame.get("message") if frame.get("type") == "message" else None
                if isinstance(inner, dict) and inner.get("type") == "conversation_completed":
                    return True
        except ConnectionClosed:
            pass
    if ws.close_code not in (1000, None):
        raise SymblError(f"The Symbl subscription closed unexpectedly (code {ws.close_code}).")
    return False


async def relay(client, url, emit, *, connection_id=""):
    """Relay a subscription into a meeting: every frame mapped into protocol events and emitted.

    For sources whose audio Symbl receives itself (Zoom RTMP managed streams, telephony). Raises
    :class:`~streaming.engines.base.EngineError` with Symbl's reason for the documented 404 or a
    refused subscription, so the session ends as failed with it.
    """
    from ..base import EngineError
    from .mapping import to_events

    async def on_frame(frame):
        for event in to_events(frame, connection_id=connection_id):
            await emit(event)

    try:
        return await subscribe(client, url, on_frame)
    except SymblError as exc:
        raise EngineError(f"Symbl: {exc}") from exc
