"""Applying a bot vendor's callbacks: the bot's lifecycle, its participants and live transcript.

Every callback is kept once as a :class:`~meetings.models.BotEvent` (its vendor key makes a repeat
a no-op) and reaches the meeting page through the persister: lifecycle changes and participants
as ``provider_event`` events (``{"provider": "meetstream", "message": "bot_status", "original":
{...}}``), live words as interim ``recognition_result`` and final ``message_response`` events.
A status may only move forward (:attr:`Bot.ORDER`): an out-of-order or unknown callback is kept
with ``applied=False`` and logged, never fatal.
"""
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.utils import timezone

from meetings.models import Bot, BotEvent, Speaker
from streaming import events
from streaming.persist import persist_event

from .vendor import Lifecycle, Participant, Unknown, Words

log = logging.getLogger(__name__)


def bot_group(meeting_id):
    """The channel-layer group a bot meeting's runner listens on (lifecycle nudges, live audio)."""
    return f"bot.{meeting_id}"


def nudge(meeting_id):
    """Tell the bot meeting's runner its bot changed (it also polls, so a lost nudge costs a second)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(bot_group(meeting_id), {"type": "bot.changed"})
    except Exception as exc:
        log.warning("meeting %s: bot nudge not delivered (%r)", meeting_id, exc)


def bot_event(bot, kind, **data):
    """The ``provider_event`` the meeting page shows for a bot's lifecycle or participants."""
    original = {"bot_id": bot.vendor_bot_id, "kind": kind, "status": bot.status,
                "status_label": bot.get_status_display(), **data}
    return events.provider_event(bot.vendor, "bot_status" if kind != "participant" else "bot_participant", original)


def speaker_key(speaker_id):
    return f"bot:{speaker_id}"


def kind_of(record):
    if isinstance(record, Words):
        return "live_transcript"
    if isinstance(record, Participant):
        return "participant_events." + ("join" if record.joined else "leave")
    return record.kind


def apply(bot, record, payload):
    """Apply one parsed callback (``record`` from ``Vendor.parse``) to ``bot``; returns ``"applied"``,
    ``"kept"`` (stored, not applied: out of order or unknown), ``"repeat"`` (stored: the status the bot
    already has, as MeetStream's repeated ``bot.joining``) or ``"duplicate"`` (the same callback again)."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        try:
            with transaction.atomic():
                stored = BotEvent.objects.create(bot=bot, key=record.key[:200], kind=kind_of(record)[:100],
                                                 payload=payload)
        except IntegrityError:
            return "duplicate"
        if isinstance(record, Lifecycle):
            outcome, event = _lifecycle(bot, record, payload)
        elif isinstance(record, Participant):
            outcome, event = _participant(bot, record)
        elif isinstance(record, Words):
            outcome, event = "applied", _words(bot, record)
        else:
            outcome, event = "kept", events.provider_event(bot.vendor, f"unknown callback {record.kind}", payload)
        if outcome == "repeat":
            stored.applied = False
            stored.save(update_fields=["applied"])
        elif outcome != "applied":
            stored.applied = False
            stored.save(update_fields=["applied"])
            log.warning("bot %s (%s): kept %s callback %r without applying it", bot.pk, bot.vendor_bot_id,
                        "an unknown" if isinstance(record, Unknown) else "an out-of-order", kind_of(record))
        meeting_id = bot.meeting_id
    if event is not None:
        persist_event(meeting_id, event)
    if outcome == "applied" and isinstance(record, Lifecycle):
        nudge(meeting_id)
    return outcome


def _lifecycle(bot, record, payload):
    changes = {}
    if record.status:
        if record.status == bot.status:
            # MeetStream sends bot.joining up to three times: a repeat of the status, nothing new.
            return "repeat", None
        if Bot.ORDER.get(record.status, -1) < Bot.ORDER.get(bot.status, -1) or (
                bot.is_out and record.status != Bot.Status.DONE):
            kept = bot_event(bot, "out_of_order", event=record.kind, reported=record.status, message=record.message)
            return "kept", kept
        changes["status"] = record.status
        changes["status_message"] = record.message
    if record.audio_processed:
        changes["audio_processed"] = True
    if record.transcript_processed:
        changes["transcript_processed"] = True
    if record.transcript_failed:
        changes["error"] = record.message or "The vendor's transcription failed."
        changes["transcript_processed"] = True  # nothing more will come
    if record.data_deleted:
        changes["data_deleted_at"] = timezone.now()
        changes["deleted_objects"] = record.deleted_objects
    for field, value in changes.items():
        setattr(bot, field, value)
    if changes:
        bot.save(update_fields=[*changes, "updated_at"])
    data = {"event": record.kind, "message": record.message}
    if record.data_deleted or record.kind == "data_deletion":
        data["deleted_objects"] = record.deleted_objects
    return "applied", bot_event(bot, "lifecycle", **data)


def _participant(bot, record):
    participants = dict(bot.participants)
    participants[record.participant_id] = {"name": record.name, "present": record.joined}
    bot.participants = participants
    bot.save(update_fields=["participants", "updated_at"])
    # Speaker attribution: the live transcript and audio name speakers as the participants do.
    Speaker.objects.get_or_create(meeting_id=bot.meeting_id, key=speaker_key(record.participant_id),
                                  defaults={"name": record.name})
    return "applied", bot_event(bot, "participant", participant_id=record.participant_id, name=record.name,
                                joined=record.joined)


def _words(bot, record):
    user = events.user_ref(speaker_key(record.speaker_id), record.speaker_name)
    start_ms = round(record.words[0]["start"] * 1000) if record.words else 0
    end_ms = round(record.words[-1]["end"] * 1000) if record.words else start_ms
    if not record.text:
        return None
    if not record.end_of_turn:
        return events.recognition_result(record.text, is_final=False, user=user, time_offset_ms=start_ms)
    # A stable id: the same turn delivered twice is one utterance.
    message_id = f"{bot.vendor}-{bot.vendor_bot_id or bot.pk}-{record.speaker_id}-{start_ms}"
    words = [{"word": w["word"], "startTime": w["start"], "endTime": w["end"], "confidence": w["confidence"]}
             for w in record.words]
    return events.message_response(message_id, record.text, user=user, start_ms=start_ms, end_ms=end_ms, words=words)
