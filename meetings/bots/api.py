"""``POST /api/v1/meetings/`` with ``{"source": "bot", ...}``: the bot starter of ``meetings.api``.

Body: the bot form's fields as JSON (``meeting_url`` required; ``bot_name``, ``join_message``,
``image_url``, ``audio_required``, ``video_required``, ``live_transcription``, ``live_audio``,
``transcription``, ``join_at`` (ISO 8601), ``retention_hours``, the four automatic-leave timeouts
in seconds, ``participant_events``) plus ``title`` and ``engine``. 201 adds ``{"bot": {"id",
"status", "vendor_bot_id", "join_at"}}``; bad input or a vendor refusal is 400 ``{"error"}``.
"""
from meetings.sessions import SessionError

from . import sessions
from .forms import BotForm
from ..links import public_origin

DEFAULTS = {"audio_required": True, "live_transcription": True, "participant_events": True}


def start(request, data):
    fields = {**{k: v for k, v in DEFAULTS.items() if k not in data}, **data}
    form = BotForm({k: v for k, v in fields.items() if v is not False and v is not None})
    form.fields["bot_name"].required = False
    if not form.is_valid():
        raise SessionError("; ".join(f"{name}: {error}" if name != "__all__" else error
                                     for name, errors in form.errors.items() for error in errors))
    values = form.bot_fields()
    values["bot_name"] = values["bot_name"] or form.fields["bot_name"].initial
    bot = sessions.start_bot(request.user, request.workspace, values, callback_base=public_origin(request),
                             title=form.cleaned_data["title"], engine=data.get("engine") or None)
    return bot.meeting, {"bot": bot_json(bot)}


def bot_json(bot):
    return {"id": bot.pk, "status": bot.status, "vendor": bot.vendor, "vendor_bot_id": bot.vendor_bot_id,
            "platform": bot.platform, "join_at": bot.join_at.isoformat() if bot.join_at else None,
            "transcription": bot.transcription}

