"""Celery tasks of the streaming app (the Celery app: ``config/celery.py``; eager on the embedded default)."""
import asyncio
import logging

from asgiref.sync import async_to_sync, sync_to_async
from celery import shared_task
from django.conf import settings

from .engines.symbl.client import RateLimited, ServerError

log = logging.getLogger(__name__)

# What Symbl may answer for a while (a 5xx, a 429): the reconciliation is tried again, so often.
RECONCILE_RETRY_ON = (ServerError, RateLimited)
RECONCILE_RETRIES = 3


@shared_task(autoretry_for=RECONCILE_RETRY_ON, retry_backoff=True, max_retries=RECONCILE_RETRIES)
def reconcile_symbl_conversation(meeting_id):
    """After a Symbl session ends: make the Conversation API the source of truth for the meeting.

    Messages, insights, topics, tracker hits and the summary Symbl holds are persisted through the
    one persister (what arrived live is deduplicated by Symbl's ids); utterances Symbl changed since
    it streamed them are corrected by one ``message_correction`` event, so live pages see the
    correction too; members and analytics are kept on the meeting's
    :class:`~streaming.models.SymblSession`. Safe to run again: a second run stores nothing new.
    Returns the counts fetched (``corrected``: utterances corrected, ``tracker_hits``: hits added),
    or None when the meeting has no Symbl conversation.
    """
    return async_to_sync(areconcile)(meeting_id)


async def areconcile(meeting_id):
    """:func:`reconcile_symbl_conversation`'s work, on the running event loop."""
    from .engines.symbl.conversation import reconcile
    from .engines.symbl.credentials import client_for
    from .models import SymblSession
    from .persist import apersist_event

    state = await sync_to_async(SymblSession.objects.select_related("meeting").filter(meeting_id=meeting_id).first)()
    if state is None or not state.conversation_id:
        log.warning("meeting %s has no Symbl conversation to reconcile", meeting_id)
        return None

    async def emit(event):
        # Events emitted together are stored together, in one transaction.
        await apersist_event(meeting_id, event)

    async with client_for(state.meeting) as client:
        return await reconcile(client, meeting_id, state.conversation_id, emit)


async def reconcile_later(meeting_id):
    """After a Symbl session: :func:`reconcile_symbl_conversation`, queued to a Celery worker in
    production; on the embedded default, where Celery runs tasks eagerly, run here on the session's
    event loop, retried as the task is (a task run eagerly would need a thread and an event loop of
    its own, and its events would be stored apart from every other session's). Never raises: the
    live transcript is complete without it, and the task can be run again."""
    try:
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            await asyncio.to_thread(reconcile_symbl_conversation.delay, meeting_id)
            return
        for attempt in range(RECONCILE_RETRIES + 1):
            try:
                await areconcile(meeting_id)
                return
            except RECONCILE_RETRY_ON as exc:
                if attempt == RECONCILE_RETRIES:
                    raise
                log.info("meeting %s: reconciliation with Symbl: %s; retry %d", meeting_id, exc, attempt + 1)
                await asyncio.sleep(2 ** attempt)
    except Exception:
        log.exception("meeting %s: reconciliation with Symbl failed", meeting_id)
