"""The dial-in source: Symbl places the call; Parley starts and stops it and relays its events.

Audio never reaches Parley (``drives_engine``): ``POST /v1/endpoint:connect`` start, the ids kept
on the :class:`~telephony.models.DialIn` (and on the meeting's :class:`~streaming.models.SymblSession`,
so the conversation is reconciled like any Symbl session's), the Subscribe API relayed into the
meeting (:func:`streaming.engines.symbl.subscribe.relay`) until the session is stopped or Symbl
ends the call; then the stop, whose ``summaryInfo`` is kept. A refused start fails the meeting
with Symbl's reason.
"""
import asyncio
import logging

from asgiref.sync import sync_to_async

from streaming.engines.base import EngineError
from streaming.sources.base import Source
from streaming.tasks import reconcile_later

from ..models import DialIn, SummaryEmail
from . import symbl as telephony

log = logging.getLogger(__name__)

RELAY_DRAIN_SECONDS = 30  # after the stop: how long Symbl may take to end the subscription


def _load(meeting_id):
    dial_in = DialIn.objects.get(meeting_id=meeting_id)
    recipients = SummaryEmail.objects.filter(meeting_id=meeting_id).values_list("recipients", flat=True).first() or []
    return dial_in, recipients


def _keep(meeting_id, **fields):
    from streaming.models import SymblSession

    DialIn.objects.filter(meeting_id=meeting_id).update(**fields)
    if "connection_id" in fields:
        SymblSession.objects.update_or_create(meeting_id=meeting_id, defaults={
            "connection_id": fields["connection_id"], "conversation_id": fields.get("conversation_id", "")})


class DialInSource(Source):
    drives_engine = True

    async def run(self, engine, went_live):
        from streaming.engines.symbl.client import SymblError
        from streaming.engines.symbl.credentials import client_for
        from streaming.engines.symbl.subscribe import relay, subscription_url

        dial_in, recipients = await sync_to_async(_load)(self.meeting.pk)
        client = client_for(self.meeting)
        relay_task = None
        try:
            if dial_in.connection_id:
                # A runner taking over: the call Symbl placed goes on; listen to it again.
                started = {"connectionId": dial_in.connection_id}
            else:
                try:
                    started = await client.request("POST", telephony.PATH,
                                                   json=telephony.start_body(dial_in, self.meeting, recipients))
                except SymblError as exc:
                    raise EngineError(f"Symbl could not dial {dial_in.phone_number or dial_in.sip_uri}: {exc}") from exc
                dial_in.connection_id = str(started.get("connectionId") or "")
                if not dial_in.connection_id:
                    raise EngineError("Symbl's telephony start answer has no connectionId.")
                await sync_to_async(_keep)(self.meeting.pk, connection_id=dial_in.connection_id,
                                           conversation_id=str(started.get("conversationId") or ""),
                                           event_url=str(started.get("eventUrl") or ""),
                                           result_websocket_url=str(started.get("resultWebSocketUrl") or ""))
            relay_task = asyncio.create_task(relay(client, subscription_url(client, dial_in.connection_id), self.emit,
                                                   connection_id=dial_in.connection_id))
            await went_live()
            stop = asyncio.ensure_future(self.control.stopped.wait())
            await asyncio.wait({stop, relay_task}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if relay_task.done():
                relay_task.result()  # the call ended on Symbl's side, or the subscription failed
                return
            try:
                stopped = await client.request("POST", telephony.PATH, json=telephony.stop_body(dial_in))
            except SymblError as exc:
                raise EngineError(f"Symbl could not hang up the call: {exc}") from exc
            await sync_to_async(_keep)(self.meeting.pk, summary_urls=stopped.get("summaryInfo") or [])
            try:
                await asyncio.wait_for(relay_task, RELAY_DRAIN_SECONDS)
            except TimeoutError:
                log.warning("meeting %s: Symbl did not end the subscription within %s s", self.meeting.pk,
                            RELAY_DRAIN_SECONDS)
            await reconcile_later(self.meeting.pk)
        finally:
            if relay_task is not None and not relay_task.done():
                relay_task.cancel()
                await asyncio.gather(relay_task, return_exceptions=True)
            await client.aclose()

