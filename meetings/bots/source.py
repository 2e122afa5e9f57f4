"""The bot source: a session that follows a meeting bot from its creation to its last transcript.

A bot's audio never passes through Parley when the vendor transcribes it, so this source
:attr:`drives_engine`: it follows the bot's lifecycle (its callbacks, applied by
``meetings.bots.lifecycle``, nudge it over the channel layer group ``bot.<meeting id>``; it also
polls) and ends the session once the bot is out and its data processed. When the meeting's
transcription is Parley's own engine it opens the engine, feeds it the bot's live audio (48 kHz
frames from ``meetings.bots.consumers``, resampled to 16 kHz) and attributes each utterance to the
frame's speaker: at a change of speaker the engine finishes the utterance in progress, and the
speaker in the engine's events is rewritten to the one who spoke. With a post-call provider the
vendor's transcript is fetched once it is processed; once the audio is processed the vendor's
recording is kept as the meeting's recording.
"""
import asyncio
import logging
import os
import tempfile
import time
from urllib.parse import urlsplit

import httpx

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.files import File
from django.utils import timezone

from meetings.models import Bot, Meeting
from streaming import events
from streaming.engines.base import EngineError
from streaming.insights import Utterance as PipelineUtterance
from streaming.insights import transcript_insights
from streaming.sources.base import Source

from .audio import Resampler
from .lifecycle import bot_group, bot_event, speaker_key
from .vendor import VendorError, vendor_for

log = logging.getLogger(__name__)

IN_CALL = (Bot.Status.IN_MEETING, Bot.Status.RECORDING)
# Statuses that prove the bot was in the call (a session followed late still went live).
JOINED = (*IN_CALL, Bot.Status.LEAVING, Bot.Status.STOPPED, Bot.Status.DONE)
NEVER_JOINED = {Bot.Status.NOT_ALLOWED: "was not allowed into the meeting", Bot.Status.DENIED: "was denied entry",
                Bot.Status.ERROR: "failed", Bot.Status.CANCELLED: "was cancelled before it joined"}


def fetch_recording(bot):
    """Store the vendor's recording of ``bot`` as its meeting's recording (once); returns its size in bytes.

    Raises :class:`VendorError`, ``httpx.HTTPError`` or ``OSError``."""
    meeting = Meeting.objects.get(pk=bot.meeting_id)
    if meeting.recording:
        return meeting.recording.size
    url = vendor_for(bot).audio_url(bot.vendor_bot_id)
    suffix = os.path.splitext(urlsplit(url).path)[1][:10] or ".audio"
    with tempfile.TemporaryFile() as handle:
        # A presigned URL (valid 1 h): no credentials of ours go with it.
        with httpx.stream("GET", url, timeout=settings.PROVIDER_TIMEOUT_SECONDS, follow_redirects=True) as response:
            response.raise_for_status()
            for part in response.iter_bytes():
                handle.write(part)
        handle.seek(0)
        meeting.recording.save(f"bot-{bot.vendor_bot_id}{suffix}", File(handle), save=False)
    Meeting.objects.filter(pk=meeting.pk).update(recording=meeting.recording.name)
    return meeting.recording.size


def _load(meeting_id):
    return Bot.objects.select_related("meeting__workspace").get(meeting_id=meeting_id)


def _vendor_transcript_insights(meeting_id):
    """The insight events of the meeting's final utterances (a vendor's transcript)."""
    meeting = Meeting.objects.get(pk=meeting_id)
    rows = meeting.utterances.order_by("start_ms", "id").values_list(
        "message_id", "speaker__name", "text", "start_ms", "end_ms")
    return transcript_insights([PipelineUtterance(m, s or "", t, a, b) for m, s, t, a, b in rows],
                               reference_time=timezone.localtime(meeting.started_at or meeting.created_at))


class BotSource(Source):
    drives_engine = True

    async def run(self, engine, went_live):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(bot_group(self.meeting.pk), channel)
        self.inbox = asyncio.Queue()
        listener = asyncio.create_task(self._listen(layer, channel))
        try:
            await self._follow(engine, went_live)
        finally:
            listener.cancel()
            try:
                await layer.group_discard(bot_group(self.meeting.pk), channel)
            except Exception as exc:
                log.warning("meeting %s: leaving the bot group failed (%r)", self.meeting.pk, exc)

    async def _listen(self, layer, channel):
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("meeting %s: bot channel receive failed (%r), retrying", self.meeting.pk, exc)
                await asyncio.sleep(0.5)
                continue
            self.inbox.put_nowait(message)

    async def _follow(self, engine, went_live):
        self.engine = engine
        self.live = self.opened = False
        self.speaker = None
        self.resampler = None
        removal_sent = False
        out_since = stop_since = None
        poll = getattr(settings, "BOT_POLL_SECONDS", 1.0)
        while True:
            bot = await sync_to_async(_load)(self.meeting.pk)
            if bot.status == Bot.Status.FAILED:
                raise EngineError(f"The bot could not be created: {bot.error}")
            if bot.status in NEVER_JOINED and not self.live:
                reason = f": {bot.status_message}" if bot.status_message else "."
                raise EngineError(f"The bot {NEVER_JOINED[bot.status]}{reason}")
            # A Stop reaches the runner over the channel layer; the flag in the row is the fallback.
            if (self.control.stopped.is_set() or bot.meeting.stop_requested) and not bot.is_out:
                self.control.stopped.set()
                stop_since = stop_since or time.monotonic()
                if bot.status in (Bot.Status.SCHEDULED, Bot.Status.CREATING):
                    raise EngineError("The bot was cancelled before it joined.")
                if not removal_sent and bot.vendor_bot_id:
                    removal_sent = True
                    await self._remove(bot)
                if time.monotonic() - stop_since > getattr(settings, "BOT_LEAVE_SECONDS", 120):
                    break  # the vendor never confirmed: end the session on our side
            if bot.status in JOINED and not self.live:
                await self._go_live(bot, went_live)
            if bot.is_out:
                out_since = out_since or time.monotonic()
                if self._finished(bot) or time.monotonic() - out_since > getattr(settings, "BOT_PROCESSING_SECONDS", 900):
                    break
            await self._wait(poll, bot, went_live)
        await self._drain(bot, went_live)
        if self.opened:
            if self.resampler:
                await self._feed(self.resampler.flush())
            await engine.close()
        if bot.transcription in Bot.POST_CALL and bot.transcript_id and not bot.transcript_fetched:
            await self._post_call_transcript(bot)
        if not self.opened:
            # The vendor transcribed: Parley's own insights, topics and summary on its text.
            for event in await sync_to_async(_vendor_transcript_insights)(self.meeting.pk):
                await self.emit(event)
        if bot.audio_processed and bot.audio_required and bot.vendor_bot_id:
            await self._keep_recording(bot)

    @staticmethod
    def _finished(bot):
        if bot.status == Bot.Status.DONE:
            return True
        if bot.transcription in Bot.POST_CALL:
            return bot.transcript_processed
        # Streaming-only providers (and Parley's engine) end at audio.processed.
        return bot.audio_processed

    async def _go_live(self, bot, went_live):
        self.live = True
        await went_live()
        if bot.parley_engine and not self.opened:
            await self.engine.open()
            self.opened = True
            self._attribute()

    def _attribute(self):
        """Rewrite the engine's one session speaker to whoever the bot last heard."""
        emit, default = self.engine.emit, self.info_speaker()

        def rewrite(who):
            if isinstance(who, dict) and self.speaker and events.speaker_key(who) == default:
                return dict(self.speaker)
            return who

        async def attributed(event):
            if event.get("type") == "message" and isinstance(event.get("message"), dict) and "user" in event["message"]:
                event = {**event, "message": {**event["message"], "user": rewrite(event["message"]["user"])}}
            elif event.get("type") in ("message_response", "message_correction"):
                event = {**event, "messages": [{**m, "from": rewrite(m.get("from"))} for m in event["messages"]]}
            await emit(event)

        self.engine.emit = attributed

    def info_speaker(self):
        return getattr(getattr(self.engine, "session", None), "speaker_key", "speaker-1")

    async def _wait(self, timeout, bot, went_live):
        stop = asyncio.ensure_future(self.control.stopped.wait())
        get = asyncio.ensure_future(self.inbox.get())
        try:
            done, _ = await asyncio.wait({get, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not get.done():
                get.cancel()
        if get in done and not get.cancelled():
            await self._handle(get.result(), bot, went_live)
            await self._drain(bot, went_live)

    async def _drain(self, bot, went_live):
        while not self.inbox.empty():
            await self._handle(self.inbox.get_nowait(), bot, went_live)

    async def _handle(self, message, bot, went_live):
        if message.get("type") != "bot.audio" or not bot.parley_engine:
            return
        if not self.live:
            # Audio means the bot is in the call, whatever callback is still on its way.
            await self._go_live(bot, went_live)
        if not self.opened:
            return
        who = events.user_ref(speaker_key(message["speaker_id"]), message["speaker_name"])
        if self.speaker is not None and who["id"] != self.speaker["id"]:
            # A new speaker: what the previous one said is finished, and theirs.
            await self._feed(self.resampler.flush())
            await self.engine.pause()
            self.resampler = None
        self.speaker = who
        self.resampler = self.resampler or Resampler()
        await self._feed(self.resampler.feed(message["pcm"]))

    async def _feed(self, pcm):
        if pcm:
            await self.engine.send_audio(pcm)

    async def _remove(self, bot):
        try:
            await sync_to_async(lambda: vendor_for(bot).remove(bot.vendor_bot_id))()
        except VendorError as exc:
            log.warning("meeting %s: removing bot %s failed: %s", self.meeting.pk, bot.vendor_bot_id, exc)
            await self.emit(bot_event(bot, "lifecycle", event="remove", message=str(exc)))
        else:
            await self.emit(bot_event(bot, "lifecycle", event="remove", message="Asked the bot to leave"))

    async def _keep_recording(self, bot):
        """Download the vendor's recording into the meeting, for the review page's player."""
        try:
            await sync_to_async(fetch_recording)(bot)
        except (VendorError, httpx.HTTPError, OSError) as exc:
            log.warning("meeting %s: the bot's recording was not kept: %s", self.meeting.pk, exc)
            await self.emit(bot_event(bot, "lifecycle", event="recording", message=f"The recording was not kept: {exc}"))

    async def _post_call_transcript(self, bot):
        vendor = await sync_to_async(vendor_for)(bot)
        segments = None
        for attempt in range(getattr(settings, "BOT_TRANSCRIPT_ATTEMPTS", 3)):
            try:
                segments = await sync_to_async(vendor.transcript)(bot.transcript_id)
            except VendorError as exc:
                await self.emit(bot_event(bot, "lifecycle", event="transcript", message=str(exc)))
                return
            if segments is not None:
                break
            await asyncio.sleep(getattr(settings, "BOT_POLL_SECONDS", 1.0))
        if segments is None:
            await self.emit(bot_event(bot, "lifecycle", event="transcript", message="The transcript was not ready."))
            return
        for number, segment in enumerate(segments):
            key = "bot:" + segment.speaker
            await self.emit(events.message_response(
                f"{bot.vendor}-{bot.transcript_id}-{number}", segment.text, user=events.user_ref(key, segment.speaker),
                start_ms=round(segment.start_s * 1000), end_ms=round(segment.end_s * 1000)))
        await sync_to_async(Bot.objects.filter(pk=bot.pk).update)(transcript_fetched=True)
