"""Celery tasks of the streaming app (the Celery app: ``config/celery.py``; eager on the embedded default)."""
import logging

from asgiref.sync import async_to_sync
from celery import shared_task

from .engines.symbl.client import RateLimited, ServerError

log = logging.getLogger(__name__)


@shared_task(autoretry_for=(ServerError, RateLimited), retry_backoff=True, max_retries=3)
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
    from .engines.symbl.conversation import reconcile
    from .engines.symbl.credentials import client_for
    from .models import SymblSession
    from .persist import apersist_event

    state = SymblSession.objects.select_related("meeting").filter(meeting_id=meeting_id).first()
    if state is None or not state.conversation_id:
        log.warning("meeting %s has no Symbl conversation to reconcile", meeting_id)
        return None

    async def emit(event):
        # Events emitted together are stored together, in one transaction.
        await apersist_event(meeting_id, event)

    async def run():
        async with client_for(state.meeting) as client:
            return await reconcile(client, meeting_id, state.conversation_id, emit)

    return async_to_sync(run)()
