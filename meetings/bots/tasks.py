"""Celery tasks of meeting bots."""
from celery import shared_task


@shared_task(name="meetings.bots.tasks.create_bot")
def create_bot(bot_id):
    """Create a scheduled bot at the vendor; queued with ``eta`` = its join time. Returns its status."""
    from .sessions import create_scheduled

    return create_scheduled(bot_id)
