"""Starting, scheduling and cancelling bot sessions: the one place the bot pages, the API and the
scheduling task call.

A bot session is a :class:`~meetings.models.Meeting` (source ``bot``) with its
:class:`~meetings.models.Bot`. A bot without a join time is created at the vendor inside the
request, so a vendor refusal is shown and nothing is kept; one with a join time is created by
:func:`meetings.bots.tasks.create_bot` at that time.
"""
import logging

from django.db import transaction
from django.utils import timezone

from meetings.models import Bot, Meeting
from meetings.sessions import SessionError, check_engine, request_stop, wake_runners
from streaming import events
from streaming.persist import persist_event

from . import lifecycle
from .vendor import VendorError, vendor_for

log = logging.getLogger(__name__)


def start_bot(owner, workspace, fields, *, callback_base, title="", engine=None):
    """Create a bot meeting from ``fields`` (``BotForm.bot_fields()``); returns the :class:`Bot`.

    ``callback_base``: Parley's public origin (``https://parley.example``) the vendor calls back.
    Raises :class:`SessionError` with the vendor's message when it refuses (401, 409, 5xx): the
    meeting and bot are then rolled back, nothing is kept.
    """
    engine = engine or workspace.default_engine
    check_engine(engine)
    platform = dict(Bot.Platform.choices)[fields["platform"]]
    with transaction.atomic():
        meeting = Meeting.objects.create(
            title=(title or "").strip()[:200] or f"{fields['bot_name']} in a {platform} meeting",
            source=Meeting.Source.BOT, engine=engine, owner=owner, workspace=workspace)
        bot = Bot.objects.create(meeting=meeting, callback_base=callback_base.rstrip("/"), **fields)
        if bot.join_at is None or bot.join_at <= timezone.now():
            try:
                _create_at_vendor(bot)
            except VendorError as exc:
                transaction.set_rollback(True)
                raise SessionError(str(exc)) from None
        else:
            from .tasks import create_bot

            transaction.on_commit(lambda: create_bot.apply_async(args=[bot.pk], eta=bot.join_at))
        transaction.on_commit(wake_runners)
    return bot


def _create_at_vendor(bot):
    created = vendor_for(bot).create(bot)
    bot.vendor_bot_id, bot.transcript_id = created.bot_id, created.transcript_id
    bot.status = Bot.Status.CREATED
    bot.save(update_fields=["vendor_bot_id", "transcript_id", "status", "updated_at"])
    log.info("bot %s created at %s as %s%s", bot.pk, bot.vendor, bot.vendor_bot_id,
             " (idempotent replay)" if created.replayed else "")


def create_scheduled(bot_id):
    """Create a scheduled bot at the vendor now (the scheduling task). Does nothing for a bot that
    was cancelled, or already created (a claim with a conditional UPDATE: one caller wins).

    Returns the bot's status afterwards; a vendor refusal fails the bot and its meeting with the
    vendor's message."""
    if not Bot.objects.filter(pk=bot_id, status=Bot.Status.SCHEDULED).update(status=Bot.Status.CREATING):
        return Bot.objects.filter(pk=bot_id).values_list("status", flat=True).first()
    bot = Bot.objects.select_related("meeting__workspace").get(pk=bot_id)
    try:
        _create_at_vendor(bot)
    except VendorError as exc:
        Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.FAILED, error=str(exc))
        bot.refresh_from_db()
        persist_event(bot.meeting_id, lifecycle.bot_event(bot, "lifecycle", event="create", message=str(exc)))
        persist_event(bot.meeting_id, events.session_status("failed", f"The bot could not be created: {exc}"))
    else:
        persist_event(bot.meeting_id, lifecycle.bot_event(bot, "lifecycle", event="create", message="Bot created"))
        wake_runners()
    lifecycle.nudge(bot.meeting_id)
    return bot.status


def cancel(bot):
    """Cancel a bot: a scheduled one is never created; one at the vendor is made to leave.

    Returns a message for the user. Raises :class:`SessionError` when the vendor refuses the removal.
    """
    if Bot.objects.filter(pk=bot.pk, status=Bot.Status.SCHEDULED).update(status=Bot.Status.CANCELLED):
        bot.refresh_from_db()
        persist_event(bot.meeting_id, lifecycle.bot_event(bot, "lifecycle", event="cancel",
                                                           message="Cancelled before it joined"))
        request_stop(bot.meeting)
        lifecycle.nudge(bot.meeting_id)
        return "The scheduled bot was cancelled; it will not join."
    bot.refresh_from_db()
    if bot.is_out:
        return f"The bot has already left ({bot.get_status_display()})."
    if bot.vendor_bot_id:
        try:
            vendor_for(bot).remove(bot.vendor_bot_id)
        except VendorError as exc:
            raise SessionError(str(exc)) from None
    request_stop(bot.meeting)
    return "The bot was asked to leave the meeting."
