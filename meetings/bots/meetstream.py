"""MeetStream's bot API (https://docs.meetstream.ai/api-reference; api-contracts §11.1; SEED-004).

Base URL ``MEETSTREAM_API_URL`` (``https://api.meetstream.ai/api/v1``), ``Authorization: Token
<api key>`` (not Bearer) from the workspace's MeetStream account:

* ``POST /bots/create_bot`` with an ``Idempotency-Key`` → 201 ``{"bot_id", "transcript_id"}``;
  a replayed key answers **507** with the original bot (a success); a duplicate → 409.
* ``GET /bots/{id}/status`` → ``{"bot_id", "status"}``; ``GET /bots/{id}/remove_bot`` (really
  GET) makes it leave; ``DELETE /bots/{id}/delete`` deletes its data (then a ``data_deletion``
  callback); ``GET /bots/{id}/get_audio`` → a presigned URL (1 h).
* ``GET /transcript/{transcript_id}/get_transcript`` → segments ``[{speaker, transcript,
  start_time, end_time}]`` (sometimes wrapped ``{"message": [...]}``); 202/404 until ready.

Callbacks come in two generations, both parsed by :meth:`MeetStream.parse`: the legacy
``{"bot_id", "bot_status": "joining", "message", "status_code": 102}`` / ``audio_status`` /
``transcript_status`` bodies, and the current ``{"event": "bot.inmeeting", "bot_status":
"InMeeting", "timestamp", ...}`` (some docs name the key ``bot_event``). Live transcription posts
``{"speakerId", "speakerName", "new_text", "transcript", "words": [{word, start, end,
confidence}], "end_of_turn", "timestamp"}``. Each is signed ``X-MeetStream-Signature`` = hex
HMAC-SHA256(webhook secret, raw body), optionally prefixed ``sha256=``.
"""
import hashlib
import logging
import math
from datetime import timezone as dt_timezone
from urllib.parse import quote

import httpx
from django.conf import settings
from django.urls import reverse

from meetings import bot_hooks
from meetings.links import public_origin
from meetings.models import Bot, Provider, ProviderAccount
from streaming.tls import tls_context

from .vendor import Created, Lifecycle, Participant, Segment, Unknown, Vendor, VendorError, Words

log = logging.getLogger(__name__)

# bot_status words (both generations) → Bot.Status.
STATUSES = {
    "joining": Bot.Status.JOINING, "inwaitingroom": Bot.Status.IN_WAITING_ROOM,
    "in_waiting_room": Bot.Status.IN_WAITING_ROOM, "inmeeting": Bot.Status.IN_MEETING,
    "recording": Bot.Status.RECORDING, "leaving": Bot.Status.LEAVING, "stopped": Bot.Status.STOPPED,
    "notallowed": Bot.Status.NOT_ALLOWED, "denied": Bot.Status.DENIED, "error": Bot.Status.ERROR,
    "done": Bot.Status.DONE,
}
# Current-generation event names that set a status by themselves.
EVENT_STATUSES = {
    "bot.joining": Bot.Status.JOINING, "bot.in_waiting_room": Bot.Status.IN_WAITING_ROOM,
    "bot.inmeeting": Bot.Status.IN_MEETING, "bot.recording": Bot.Status.RECORDING,
    "bot.leaving": Bot.Status.LEAVING, "bot.stopped": Bot.Status.STOPPED, "bot.done": Bot.Status.DONE,
}
RECORDED_ONLY = {"manifest.completed", "video.processed", "bot.error"}


def _status_word(value):
    return STATUSES.get(str(value or "").replace(" ", "").lower(), "")


def _message(response):
    """What MeetStream said in an error answer: ``detail``/``message``/``error``, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, (dict, list)) and value:
                return str(value)[:300]
        return str(body)[:300]
    return str(body)[:300]


def _provider_config(bot, language):
    kind = bot.transcription
    if kind == Bot.Transcription.DEEPGRAM_STREAMING:
        return {"deepgram_streaming": {"model": "nova-2", "language": language, "punctuate": True, "endpointing": 300}}
    if kind == Bot.Transcription.ASSEMBLYAI_STREAMING:
        return {"assemblyai_streaming": {"sample_rate": 48000, "encoding": "pcm_s16le"}}
    if kind == Bot.Transcription.DEEPGRAM:
        return {"deepgram": {"model": "nova-2", "language": language, "diarize": True}}
    if kind == Bot.Transcription.ASSEMBLYAI:
        return {"assemblyai": {"speech_models": ["best"], "language_code": language, "speaker_labels": True}}
    return None  # Parley's engine: the vendor transcribes nothing


def callback_urls(bot):
    """``{"callback", "live", "participants", "audio"}``: the bot's URLs on Parley, on ``bot.callback_base``."""
    base = (bot.callback_base or public_origin()).rstrip("/")
    ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    token = bot.callback_token
    return {
        "callback": base + reverse("bots:callback", args=[token]),
        "live": base + reverse("bots:live", args=[token]),
        "participants": base + reverse("bots:participants", args=[token]),
        "audio": f"{ws_base}/ws/bots/{token}/audio",
    }


def create_body(bot):
    """The ``POST /bots/create_bot`` body for ``bot`` (the shape of api-contracts §11.1)."""
    urls = callback_urls(bot)
    language = (bot.meeting.language or "en").split("-")[0]
    body = {
        "meeting_link": bot.meeting_url,
        "bot_name": bot.bot_name,
        "audio_required": bot.audio_required,
        "video_required": bot.video_required,
        "callback_url": urls["callback"],
        "custom_attributes": {"parley_meeting": str(bot.meeting_id)},
        "automatic_leave": bot.automatic_leave(),
    }
    if bot.platform != Bot.Platform.ZOOM:
        # Zoom-only (SEED-004): other platforms have no recording-permission prompt.
        body["automatic_leave"].pop("recording_permission_denied_timeout")
    if bot.join_at:
        body["join_at"] = bot.join_at.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if bot.join_message:
        body["bot_message"] = bot.join_message
    if bot.image_url:
        body["bot_image_url"] = bot.image_url
    recording = {}
    provider = _provider_config(bot, language)
    if provider:
        recording["transcript"] = {"provider": provider}
    hours = bot.retention_hours
    if not hours and bot.meeting.workspace.retention:
        # The workspace's policy: the vendor keeps no copy longer than Parley keeps the meeting.
        hours = max(1, math.ceil(bot.meeting.workspace.retention.total_seconds() / 3600))
    if hours:
        recording["retention"] = {"type": "timed", "hours": hours}
    if bot.participant_events:
        recording["realtime_endpoints"] = [{"type": "webhook", "url": urls["participants"],
                                            "events": ["participant_events.join", "participant_events.leave"]}]
    if recording:
        body["recording_config"] = recording
    if bot.live_transcription and bot.transcription in Bot.STREAMING:
        body["live_transcription_required"] = {"webhook_url": urls["live"]}
    if bot.live_audio or bot.parley_engine:
        body["live_audio_required"] = {"websocket_url": urls["audio"]}
    return body


class MeetStream(Vendor):
    name = "meetstream"

    def __init__(self, api_key, webhook_secret="", *, base_url=None, timeout=None):
        self.api_key = api_key
        self.webhook_secret = webhook_secret or ""
        self.base_url = (base_url or settings.MEETSTREAM_API_URL).rstrip("/")
        self.timeout = timeout or settings.PROVIDER_TIMEOUT_SECONDS

    @classmethod
    def for_workspace(cls, workspace):
        """The client with ``workspace``'s MeetStream account; VendorError when it has no API key."""
        account = ProviderAccount.objects.filter(workspace=workspace, provider=Provider.MEETSTREAM).first()
        secrets = account.secrets() if account else {}
        if not secrets.get("api_key"):
            raise VendorError("No MeetStream API key is set for this workspace: an admin adds it under Provider accounts.")
        return cls(secrets["api_key"], secrets.get("webhook_secret", ""))

    # -- calls --------------------------------------------------------------------------------

    def _request(self, method, path, **kwargs):
        headers = {"Authorization": f"Token {self.api_key}", **kwargs.pop("headers", {})}
        try:
            with httpx.Client(timeout=self.timeout, verify=tls_context()) as client:
                return client.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise VendorError(f"MeetStream did not answer within {self.timeout:g} s.") from None
        except httpx.TransportError as exc:
            raise VendorError(f"MeetStream could not be reached: {exc.__class__.__name__}: {exc}") from None

    def _fail(self, response, doing):
        status = response.status_code
        said = _message(response)
        if status in (401, 403):
            text = f"MeetStream refused the API key while {doing}: {said} (HTTP {status})"
        elif status == 409:
            text = f"MeetStream refused a duplicate while {doing}: {said} (HTTP 409)"
        elif status >= 500:
            text = f"MeetStream failed while {doing}: {said} (HTTP {status}); try again later"
        else:
            text = f"MeetStream refused {doing}: {said} (HTTP {status})"
        return VendorError(text, status)

    def create(self, bot):
        response = self._request("POST", "/bots/create_bot", json=create_body(bot),
                                 headers={"Idempotency-Key": str(bot.idempotency_key)})
        # 507 is MeetStream's answer to a replayed Idempotency-Key: the original bot, a success.
        if response.status_code not in (200, 201, 507):
            raise self._fail(response, "creating the bot")
        body = response.json()
        if not isinstance(body, dict) or not body.get("bot_id"):
            raise VendorError(f"MeetStream's answer names no bot_id: {str(body)[:200]}", response.status_code)
        return Created(str(body["bot_id"]), str(body.get("transcript_id") or ""), response.status_code == 507)

    def status(self, bot_id):
        response = self._request("GET", f"/bots/{quote(bot_id, safe='')}/status")
        if response.status_code != 200:
            raise self._fail(response, "reading the bot's status")
        return str(response.json().get("status") or "")

    def remove(self, bot_id):
        response = self._request("GET", f"/bots/{quote(bot_id, safe='')}/remove_bot")
        if not response.is_success:
            raise self._fail(response, "removing the bot")

    def delete_data(self, bot_id):
        response = self._request("DELETE", f"/bots/{quote(bot_id, safe='')}/delete")
        if response.status_code == 404:
            return  # already gone
        body = response.json() if response.is_success else None
        if not response.is_success or (isinstance(body, dict) and body.get("success") is False):
            raise self._fail(response, "deleting the bot's data")

    def transcript(self, transcript_id):
        response = self._request("GET", f"/transcript/{quote(transcript_id, safe='')}/get_transcript")
        if response.status_code in (202, 404):
            return None  # still processing
        if response.status_code != 200:
            raise self._fail(response, "fetching the transcript")
        body = response.json()
        if isinstance(body, dict):
            body = body.get("message") or body.get("transcript") or []
        segments = []
        for item in body if isinstance(body, list) else []:
            if not isinstance(item, dict) or not str(item.get("transcript") or "").strip():
                continue
            try:
                start, end = float(item.get("start_time") or 0), float(item.get("end_time") or 0)
            except (TypeError, ValueError):
                continue
            segments.append(Segment(str(item.get("speaker") or "Speaker"), str(item["transcript"]).strip(),
                                    start, max(start, end)))
        return segments

    def audio_url(self, bot_id):
        response = self._request("GET", f"/bots/{quote(bot_id, safe='')}/get_audio")
        if response.status_code != 200:
            raise self._fail(response, "fetching the recording")
        body = response.json()
        for key in ("audio_url", "url", "presigned_url"):
            if isinstance(body, dict) and body.get(key):
                return str(body[key])
        raise VendorError(f"MeetStream's answer names no audio URL: {str(body)[:200]}", 200)

    # -- callbacks ----------------------------------------------------------------------------

    def verify(self, body, headers):
        if not self.webhook_secret:
            return True
        return bot_hooks.verify(self.webhook_secret, body, headers.get("X-MeetStream-Signature", ""))

    def parse(self, payload):
        stamp = str(payload.get("timestamp") or "")
        if "speakerName" in payload or "new_text" in payload or "words" in payload and "speakerId" in payload:
            return self._words(payload, stamp)
        event = str(payload.get("event") or payload.get("bot_event") or "")
        if event.startswith("participant_events."):
            return self._participant(payload, event, stamp)
        message = str(payload.get("message") or "")[:500]
        bot_status = payload.get("bot_status")
        if event == "data_deletion":
            ok = str(payload.get("status") or "").lower() == "success"
            count = payload.get("deleted_objects")
            return Lifecycle(f"data_deletion:{stamp}:{payload.get('status')}", event, message=message or (
                "Data deleted" if ok else "Data deletion failed"), data_deleted=ok,
                deleted_objects=count if isinstance(count, int) and count >= 0 else None)
        if event in EVENT_STATUSES:
            status = EVENT_STATUSES[event]
            if event == "bot.stopped":
                # The reason the bot stopped: Stopped, NotAllowed, Denied or Error.
                status = _status_word(bot_status) or status
            return Lifecycle(f"{event}:{bot_status}:{stamp}", event, status=status, message=message)
        if event == "audio.processed":
            return Lifecycle(f"{event}:{stamp}", event, message=message, audio_processed=True)
        if event == "transcription.processed":
            return Lifecycle(f"{event}:{stamp}", event, message=message, transcript_processed=True)
        if event == "transcription.failed":
            return Lifecycle(f"{event}:{stamp}", event, message=message, transcript_failed=True)
        if event in RECORDED_ONLY:
            return Lifecycle(f"{event}:{stamp}", event, message=message)
        if not event:
            # The legacy generation (SEED-004): no event name, one status field.
            if _status_word(bot_status):
                return Lifecycle(f"legacy:{bot_status}:{stamp}", f"bot_status={bot_status}",
                                 status=_status_word(bot_status), message=message)
            if str(payload.get("audio_status") or "").lower() == "success":
                return Lifecycle(f"legacy:audio:{stamp}", "audio_status=Success", message=message, audio_processed=True)
            if payload.get("transcript_status"):
                ok = str(payload["transcript_status"]).lower() == "success"
                return Lifecycle(f"legacy:transcript:{payload['transcript_status']}:{stamp}",
                                 f"transcript_status={payload['transcript_status']}", message=message,
                                 transcript_processed=ok, transcript_failed=not ok)
        digest = hashlib.sha256(repr(sorted(payload.items(), key=lambda kv: kv[0])).encode()).hexdigest()[:32]
        return Unknown(f"unknown:{digest}", event or "?")

    def _participant(self, payload, event, stamp):
        # MeetStream documents the event names only; the body is read as the realtime-endpoint
        # shape Recall.ai documents ({"data": {"data": {"participant": {...}, "timestamp": ...}}}),
        # or with the participant at the top level.
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        inner = data.get("data") if isinstance(data.get("data"), dict) else data
        who = inner.get("participant") or payload.get("participant") or {}
        if not isinstance(who, dict):
            who = {}
        pid = str(who.get("id") or who.get("participant_id") or who.get("name") or "")
        name = str(who.get("name") or pid or "Participant")[:200]
        when = inner.get("timestamp") or stamp
        if isinstance(when, dict):
            when = when.get("absolute") or when.get("relative")
        joined = event.endswith(".join")
        return Participant(f"{event}:{pid}:{when}", pid or name, name, joined)

    def _words(self, payload, stamp):
        words = []
        for item in payload.get("words") or []:
            if not isinstance(item, dict) or not str(item.get("word") or "").strip():
                continue
            try:
                words.append({"word": str(item["word"]), "start": float(item.get("start") or 0),
                              "end": float(item.get("end") or item.get("start") or 0),
                              "confidence": float(item.get("confidence") or 0)})
            except (TypeError, ValueError):
                continue
        text = str(payload.get("transcript") or payload.get("new_text") or "").strip()
        speaker_id = str(payload.get("speakerId") or payload.get("speakerName") or "speaker")
        end = bool(payload.get("end_of_turn"))
        key = f"words:{speaker_id}:{stamp}:{len(text)}:{int(end)}"
        return Words(key, speaker_id, str(payload.get("speakerName") or speaker_id)[:200], text, words, end)
