"""Celery task of the Zoom source: speaker attribution once Zoom's cloud recording is ready."""
import logging

from celery import shared_task

from . import client as zoom_api

log = logging.getLogger(__name__)


@shared_task(autoretry_for=(zoom_api.RateLimited, zoom_api.ServerError), retry_backoff=True, max_retries=3)
def apply_zoom_timeline(meeting_id):
    """:func:`streaming.zoom.speakers.apply_timeline`, retried while Zoom is busy or rate limits."""
    from .speakers import apply_timeline

    return apply_timeline(meeting_id)
