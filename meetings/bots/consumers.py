"""``ws/bots/<token>/audio``: the bot connects here and streams each speaker's audio (live audio).

The per-bot token authorises the socket (an unknown token, or a bot already out of its meeting,
is closed before accept). Frames go to the session's runner over the channel layer, group
``bot.<meeting id>``, as ``{"type": "bot.audio", "speaker_id", "speaker_name", "pcm"}`` (48 kHz);
a malformed frame is logged and skipped, never ending the stream.
"""
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from meetings.models import Bot
from streaming.consumers import SkipsDatabaseCleanup

from .audio import FrameError, decode
from .lifecycle import bot_group

log = logging.getLogger(__name__)


@database_sync_to_async
def _bot(token):
    bot = Bot.objects.filter(callback_token=token).only("pk", "meeting_id", "status").first()
    return bot if bot is not None and not bot.is_out else None


class BotAudioConsumer(SkipsDatabaseCleanup, AsyncWebsocketConsumer):
    # Audio frames touch no database: they skip Channels' per-message connection clean-up, a hop
    # through the thread that the session's persistence also waits on.
    no_database = frozenset({"websocket.receive"})

    async def connect(self):
        self.bot = await _bot(self.scope["url_route"]["kwargs"]["bot_token"])
        if self.bot is None:
            log.warning("Refused a bot audio socket: unknown token or a bot out of its meeting")
            await self.close(code=4404)
            return
        self.frames = self.skipped = 0
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is None:
            try:
                message = json.loads(text_data or "")
            except ValueError:
                message = None
            log.info("bot %s audio socket: %s", self.bot.pk,
                     message.get("type") if isinstance(message, dict) else f"unreadable text frame {text_data[:80]!r}")
            return
        try:
            frame = decode(bytes_data)
        except FrameError as exc:
            self.skipped += 1
            log.warning("bot %s audio socket: skipped a frame: %s", self.bot.pk, exc)
            return
        self.frames += 1
        await self.channel_layer.group_send(bot_group(self.bot.meeting_id), {
            "type": "bot.audio", "speaker_id": frame.speaker_id, "speaker_name": frame.speaker_name, "pcm": frame.pcm})

    async def disconnect(self, code):
        if getattr(self, "bot", None) is not None:
            log.info("bot %s audio socket closed (%s): %s frames, %s skipped", self.bot.pk, code,
                     getattr(self, "frames", 0), getattr(self, "skipped", 0))
