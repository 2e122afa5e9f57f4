"""MeetStream's bot API on loopback (aiohttp), with a bot that plays a whole meeting.

Sources: ``shared/api-contracts.md`` §11.1 (https://docs.meetstream.ai/api-reference,
https://docs.meetstream.ai/api-reference/callback-events, SEED-004, ``meetstream-ai/meetstream-mcp``
``src/api.js``, ``meetstream-ai/labs`` ``realtime-transcription``), all with ``Authorization: Token
<api key>`` (not Bearer):

* ``GET /api/v1/bots`` → 200 ``{"bots": [...], "hasNextPage": false, "nextCursor": null}``.
* ``POST /api/v1/bots/create_bot`` → 201 ``{"bot_id", "transcript_id"}`` (``transcript_id`` only
  with a post-call provider). A replayed ``Idempotency-Key`` answers **507** with the original
  bot; a repeated ``deduplication_key`` 409. 400 for what MeetStream refuses: no
  ``meeting_link``, more than one transcript provider, ``live_transcription_required`` without a
  ``*_streaming`` provider, ``recording_permission_denied_timeout`` outside 60–300,
  ``in_call_recording_timeout`` under 600. ``create_failures`` queues ``(status, body)`` answers
  for the next creations (a 500, a 409 …).
* ``GET /api/v1/bots/{id}/status`` → ``{"bot_id", "status"}``; ``GET …/detail`` →
  ``{"bot_details": {...}}``; ``GET …/remove_bot`` → ``{"success": true, "message"}`` and the bot
  leaves (``bot.leaving``, ``bot.stopped``, processing callbacks); ``GET …/get_audio`` →
  ``{"audio_url"}`` (the recording played, served at ``/media/{id}.flac``).
* ``DELETE /api/v1/bots/{bot_id}/delete`` → 200 ``{"success": true, "message": "Bot data deleted
  successfully"}`` for a bot whose data it holds (``data``), which is then gone, followed by a
  ``data_deletion`` callback for a bot it created; 404 ``{"detail": "Not found."}`` otherwise.
  ``fail_next`` answers that many deletions 500 ``{"detail": "Internal server error"}`` first.
* ``GET /api/v1/transcript/{transcript_id}/get_transcript`` → 202 until the transcript is
  processed, then ``[{"speaker", "transcript", "start_time", "end_time"}]``.

Refusals: a missing ``Authorization`` → 401 ``{"detail": "Authentication credentials were not
provided."}``, a wrong key or scheme → 401 ``{"detail": "Invalid token."}`` (Django REST
framework's TokenAuthentication messages; inferred).

**A whole meeting.** :meth:`MeetStreamFake.play` (or ``autoplay``) plays a bot's meeting against the
URLs of its create request: ``bot.joining`` → ``bot.in_waiting_room`` → ``bot.inmeeting`` →
``bot.recording``, participants joining (``participant_events.join`` to the realtime endpoint);
then, with ``live_transcription_required``, the live transcript of a real meeting (the first
``turns`` turns of ``tests/data/meetings/ES2004a.json``, AMI corpus), each turn as a partial and an
``end_of_turn`` event; with ``live_audio_required``, a real recording
(``tests/data/audio/endgame_nagg_nell.flac``, resampled to 48 kHz) on the bot's WebSocket in
MeetStream's binary frames, each turn under its speaker (turn times in
``tests/data/bots/endgame_turns.tsv``); then the participants leave, the bot leaves by
``everyone_left_timeout`` (``bot.leaving``, ``bot.stopped``), ``manifest.completed``,
``audio.processed``, ``transcription.processed`` (post-call providers), ``bot.done``.
:meth:`expire` plays the retention's ``data_deletion``. ``generation="legacy"`` sends the older
callback bodies (``{"bot_status": "joining", "status_code": 102}`` …). With ``webhook_secret`` every
callback is signed ``X-MeetStream-Signature`` = hex HMAC-SHA256(secret, body). Word times are
the emulator's (0.35 s a word): the AMI text has none.
"""
import asyncio
import csv
import hashlib
import hmac
import json
import logging
import re
import struct
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
from aiohttp import web

from .http import LoopbackFake, json_error, serve_main

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent.parent / "data"
TRANSCRIPT = DATA / "meetings" / "ES2004a.json"
RECORDING = DATA / "audio" / "endgame_nagg_nell.flac"
TURNS = DATA / "bots" / "endgame_turns.tsv"
STREAMING = {"deepgram_streaming", "assemblyai_streaming", "jigsawstack_streaming", "meetstream_streaming",
             "meeting_captions"}
POST_CALL = {"deepgram", "assemblyai", "sarvam", "meetstream", "jigsawstack"}
WORD_SECONDS = 0.35


def _now():
    return datetime.now(timezone.utc).isoformat()


def _clean(text):
    """AMI annotation out ({vocalsound}, T_V_, spaces before punctuation): what a captioner would show."""
    text = re.sub(r"\{\w+\}", " ", text)
    text = re.sub(r"\b([A-Z])_", r"\1", text)
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip(" ,")


def meeting_turns(count, path=TRANSCRIPT):
    """The first ``count`` non-empty turns of a QMSum meeting as ``(speaker, text)``."""
    turns = []
    for turn in json.loads(Path(path).read_text())["meeting_transcripts"]:
        text = _clean(turn["content"])
        if len(text.split()) >= 2:
            turns.append((turn["speaker"], text))
        if len(turns) >= count:
            break
    return turns


def recording_turns(path=TURNS):
    """``(start_ms, end_ms, speaker, text)`` of the recording's turns."""
    with open(path, newline="") as handle:
        return [(int(r["start_ms"]), int(r["end_ms"]), r["speaker"], r["text"])
                for r in csv.DictReader(handle, delimiter="\t")]


def pcm48(path=RECORDING):
    """The recording as PCM s16le mono 48 kHz (the rate of MeetStream's live audio)."""
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    out = bytearray()
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                out += bytes(piece.planes[0])[: piece.samples * 2]
        for piece in resampler.resample(None):
            out += bytes(piece.planes[0])[: piece.samples * 2]
    return bytes(out)


def audio_frame(speaker_id, speaker_name, pcm):
    """MeetStream's live-audio frame: 0x01 | u16le sid_len | sid | u16le name_len | name | PCM 48 kHz."""
    sid, name = speaker_id.encode(), speaker_name.encode()
    return b"\x01" + struct.pack("<H", len(sid)) + sid + struct.pack("<H", len(name)) + name + pcm


class MeetStreamFake(LoopbackFake):
    name = "meetstream"

    def __init__(self, *, api_key="parley-dev-meetstream-key", data=(), fail_next=0, webhook_secret="",
                 autoplay=False, pace=0.0, turns=8, generation="current", create_failures=()):
        super().__init__()
        self.api_key = api_key
        self.bots = []  # what GET /bots lists
        self.data = set(data)  # ids of the bots whose data it holds
        self.fail_next = fail_next
        self.webhook_secret = webhook_secret
        self.autoplay = autoplay in (True, "1", "true", "yes")
        self.pace = float(pace)
        self.turns = int(turns)
        self.generation = generation
        self.create_failures = list(create_failures)
        self.created = {}  # bot id → {"request", "status", "transcript_id", ...}
        self.idempotency = {}  # Idempotency-Key → (bot_id, transcript_id)
        self.dedup = set()
        self.deliveries = []  # (url, payload, HTTP status or error)
        self.audio_frames = 0
        self.loop = None
        self.tasks = set()

    def routes(self):
        return [
            web.get("/api/v1/bots", self.list_bots),
            web.post("/api/v1/bots/create_bot", self.create_bot),
            web.get("/api/v1/bots/{bot_id}/status", self.status),
            web.get("/api/v1/bots/{bot_id}/detail", self.detail),
            web.get("/api/v1/bots/{bot_id}/remove_bot", self.remove_bot),
            web.get("/api/v1/bots/{bot_id}/get_audio", self.get_audio),
            web.delete("/api/v1/bots/{bot_id}/delete", self.delete_data),
            web.get("/api/v1/transcript/{transcript_id}/get_transcript", self.get_transcript),
            web.get("/media/{bot_id}.flac", self.media),
        ]

    async def start(self, host="127.0.0.1", port=0):
        self.loop = asyncio.get_running_loop()
        return await super().start(host, port)

    async def stop(self):
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await super().stop()

    @property
    def api_url(self):
        """What ``MEETSTREAM_API_URL`` is set to."""
        return f"{self.url}/api/v1"

    def _authenticate(self, request):
        header = request.headers.get("Authorization")
        if not header:
            raise json_error(401, {"detail": "Authentication credentials were not provided."},
                             headers={"WWW-Authenticate": "Token"})
        scheme, _, key = header.partition(" ")
        if scheme != "Token" or key.strip() != self.api_key:
            raise json_error(401, {"detail": "Invalid token."}, headers={"WWW-Authenticate": "Token"})

    def _bot(self, request):
        bot = self.created.get(request.match_info["bot_id"])
        if bot is None:
            raise json_error(404, {"detail": "Not found."})
        return bot

    def _spawn(self, coroutine):
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- the API ----------------------------------------------------------------------------

    async def list_bots(self, request):
        self._authenticate(request)
        return web.json_response({"bots": list(self.bots), "hasNextPage": False, "nextCursor": None})

    @staticmethod
    def _refusal(body):
        if not isinstance(body, dict):
            return "Expected a JSON object."
        if not body.get("meeting_link"):
            return "meeting_link: This field is required."
        provider = ((body.get("recording_config") or {}).get("transcript") or {}).get("provider") or {}
        if len(provider) > 1:
            return "recording_config.transcript.provider: exactly one provider may be given."
        if provider and not set(provider) <= STREAMING | POST_CALL:
            return f"recording_config.transcript.provider: unknown provider {next(iter(provider))!r}."
        if body.get("live_transcription_required") and not set(provider) & STREAMING:
            return "live_transcription_required needs a streaming transcription provider."
        leave = body.get("automatic_leave") or {}
        denied = leave.get("recording_permission_denied_timeout")
        if denied is not None and not 60 <= denied <= 300:
            return "automatic_leave.recording_permission_denied_timeout must be between 60 and 300 seconds."
        recording = leave.get("in_call_recording_timeout")
        if recording is not None and recording < 600:
            return "automatic_leave.in_call_recording_timeout must be at least 600 seconds."
        return None

    async def create_bot(self, request):
        self._authenticate(request)
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotency:
            bot_id, transcript_id = self.idempotency[key]
            return web.json_response({"bot_id": bot_id, "transcript_id": transcript_id}, status=507)
        if self.create_failures:
            status, answer = self.create_failures.pop(0)
            raise json_error(status, answer)
        try:
            body = await request.json()
        except ValueError:
            body = None
        refusal = self._refusal(body)
        if refusal:
            raise json_error(400, {"detail": refusal})
        dedup = body.get("deduplication_key")
        if dedup and dedup in self.dedup:
            raise json_error(409, {"detail": "A bot with this deduplication_key already exists."})
        if dedup:
            self.dedup.add(dedup)
        bot_id = str(uuid.uuid4())
        provider = ((body.get("recording_config") or {}).get("transcript") or {}).get("provider") or {}
        transcript_id = str(uuid.uuid4()) if set(provider) & POST_CALL else None
        self.created[bot_id] = {"request": body, "status": "Joining", "transcript_id": transcript_id,
                                "timeline": {}, "removed": asyncio.Event(), "played": [],
                                "transcript_ready": False, "playing": None}
        self.data.add(bot_id)
        self.bots.append({"bot_id": bot_id, "meeting_link": body["meeting_link"], "bot_name": body.get("bot_name")})
        if key:
            self.idempotency[key] = (bot_id, transcript_id)
        if self.autoplay:
            self.created[bot_id]["playing"] = self._spawn(self._play(bot_id))
        return web.json_response({"bot_id": bot_id, "transcript_id": transcript_id}, status=201)

    async def status(self, request):
        self._authenticate(request)
        bot = self._bot(request)
        return web.json_response({"bot_id": request.match_info["bot_id"], "status": bot["status"]})

    async def detail(self, request):
        self._authenticate(request)
        bot = self._bot(request)
        body = bot["request"]
        return web.json_response({"bot_details": {
            "BotID": request.match_info["bot_id"], "Status": bot["status"], "MeetingLink": body["meeting_link"],
            "StatusTimeline": bot["timeline"], "RequestPayload": body, "transcript_id": bot["transcript_id"]}})

    async def remove_bot(self, request):
        self._authenticate(request)
        bot = self._bot(request)
        bot["removed"].set()
        if bot["playing"] is None:
            bot["playing"] = self._spawn(self._leave(request.match_info["bot_id"], "Bot was removed from the meeting"))
        return web.json_response({"success": True, "message": "Bot removed successfully"})

    async def get_audio(self, request):
        self._authenticate(request)
        bot_id = request.match_info["bot_id"]
        self._bot(request)
        if bot_id not in self.data:
            raise json_error(404, {"detail": "Not found."})
        return web.json_response({"audio_url": f"{self.url}/media/{bot_id}.flac"})

    async def media(self, request):
        if request.match_info["bot_id"] not in self.data:
            raise json_error(404, {"detail": "Not found."})
        return web.FileResponse(RECORDING)

    async def get_transcript(self, request):
        self._authenticate(request)
        wanted = request.match_info["transcript_id"]
        bot = next((b for b in self.created.values() if b["transcript_id"] == wanted), None)
        if bot is None:
            raise json_error(404, {"detail": "Not found."})
        if not bot["transcript_ready"]:
            return web.json_response({"detail": "Transcript is being processed."}, status=202)
        return web.json_response([{"speaker": s, "transcript": t, "start_time": a, "end_time": b}
                                  for s, t, a, b in bot["played"]])

    async def delete_data(self, request):
        self._authenticate(request)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise json_error(500, {"detail": "Internal server error"})
        bot_id = request.match_info["bot_id"]
        if bot_id not in self.data:
            raise json_error(404, {"detail": "Not found."})
        self.data.discard(bot_id)
        if bot_id in self.created:
            self._spawn(self._deleted(bot_id))
        return web.json_response({"success": True, "message": "Bot data deleted successfully"})

    # -- callbacks --------------------------------------------------------------------------

    async def _post(self, url, payload):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers["X-MeetStream-Signature"] = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(url, content=body, headers=headers)
            self.deliveries.append((url, payload, response.status_code))
        except httpx.HTTPError as exc:
            # MeetStream does not retry a callback.
            self.deliveries.append((url, payload, repr(exc)))
        if self.pace:
            await asyncio.sleep(self.pace)

    async def _status(self, bot_id, event, bot_status, message, code):
        bot = self.created[bot_id]
        bot["status"] = bot_status
        stamp = _now()
        bot["timeline"][bot_status] = {"status": bot_status, "timestamp": stamp}
        url = bot["request"].get("callback_url")
        if not url:
            return
        if self.generation == "legacy":
            payload = {"bot_id": bot_id, "bot_status": bot_status if bot_status != "Joining" else "joining",
                       "message": message, "status_code": code}
            if event == "audio.processed":
                payload = {"bot_id": bot_id, "audio_status": "Success", "message": message, "status_code": 200}
            elif event == "transcription.processed":
                payload = {"bot_id": bot_id, "transcript_status": "Success", "message": message, "status_code": 200}
            elif event not in ("bot.joining", "bot.inmeeting", "bot.stopped"):
                return  # the legacy generation had these events only
        else:
            payload = {"event": event, "bot_id": bot_id, "bot_status": bot_status, "message": message,
                       "status_code": code, "timestamp": stamp,
                       "custom_attributes": bot["request"].get("custom_attributes") or {}}
        await self._post(url, payload)

    async def _participant(self, bot_id, url, pid, name, joined):
        event = "participant_events.join" if joined else "participant_events.leave"
        await self._post(url, {"event": event, "bot_id": bot_id, "data": {"data": {
            "participant": {"id": pid, "name": name, "is_host": False, "platform": "desktop", "extra_data": {}},
            "timestamp": {"absolute": _now(), "relative": 0}}}})

    async def _deleted(self, bot_id, objects=12):
        url = self.created[bot_id]["request"].get("callback_url")
        if url:
            await self._post(url, {"event": "data_deletion", "bot_id": bot_id, "status": "success",
                                   "deleted_objects": objects, "status_code": 200, "timestamp": _now()})

    async def expire(self, bot_id):
        """The retention ran out: the data goes and the ``data_deletion`` callback follows."""
        self.data.discard(bot_id)
        await self._deleted(bot_id)

    def play(self, bot_id):
        """Play ``bot_id``'s meeting; a coroutine for async callers (await it)."""
        bot = self.created[bot_id]
        bot["playing"] = asyncio.ensure_future(self._play(bot_id))
        return bot["playing"]

    def play_sync(self, bot_id, timeout=120):
        """Play ``bot_id``'s meeting from a sync caller (the fake served in a thread); waits for its end."""
        async def run():
            bot = self.created[bot_id]
            bot["playing"] = asyncio.current_task()
            await self._play(bot_id)

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    async def _play(self, bot_id):
        bot = self.created[bot_id]
        body = bot["request"]
        endpoints = (body.get("recording_config") or {}).get("realtime_endpoints") or []
        people_url = next((e.get("url") for e in endpoints if e.get("type") == "webhook"), None)
        live_url = (body.get("live_transcription_required") or {}).get("webhook_url")
        audio_url = (body.get("live_audio_required") or {}).get("websocket_url")
        await self._status(bot_id, "bot.joining", "Joining", "Bot is joining the meeting", 102)
        await self._status(bot_id, "bot.in_waiting_room", "InWaitingRoom", "Bot is in the waiting room", 102)
        await self._status(bot_id, "bot.inmeeting", "InMeeting", "Successfully joined the meeting", 200)
        await self._status(bot_id, "bot.recording", "Recording", "Bot started recording", 200)
        if audio_url:
            turns = [(a / 1000, b / 1000, s, t) for a, b, s, t in recording_turns()]
        else:
            turns, at = [], 0.5
            for speaker, text in meeting_turns(self.turns):
                length = len(text.split()) * WORD_SECONDS
                turns.append((at, at + length, speaker, text))
                at += length + 0.6
        people = {}
        for _, _, speaker, _ in turns:
            people.setdefault(speaker, f"spk_{hashlib.sha1(speaker.encode()).hexdigest()[:8]}")
        if people_url:
            for name, pid in people.items():
                await self._participant(bot_id, people_url, pid, name, True)
        if audio_url:
            await self._stream_audio(bot_id, audio_url, turns, people)
        for start, end, speaker, text in turns:
            if bot["removed"].is_set():
                break
            bot["played"].append((speaker, text, start, end))
            if live_url:
                await self._live_turn(bot_id, live_url, people[speaker], speaker, text, start)
        if people_url:
            for name, pid in people.items():
                await self._participant(bot_id, people_url, pid, name, False)
        reason = ("Bot was removed from the meeting" if bot["removed"].is_set()
                  else "Everyone left the meeting: leaving after everyone_left_timeout")
        await self._leave(bot_id, reason)

    async def _live_turn(self, bot_id, url, pid, speaker, text, start):
        words = []
        for number, word in enumerate(text.split()):
            begin = start + number * WORD_SECONDS
            words.append({"word": word, "start": round(begin, 3), "end": round(begin + WORD_SECONDS * 0.9, 3),
                          "confidence": 0.98, "word_is_final": True})
        half = max(1, len(words) // 2)
        for part, end_of_turn in ((words[:half], False), (words, True)):
            said = " ".join(w["word"] for w in part)
            await self._post(url, {"bot_id": bot_id, "speakerId": pid, "speakerName": speaker,
                                   "timestamp": _now(), "new_text": part[-1]["word"], "transcript": said,
                                   "words": part, "word_is_final": True, "end_of_turn": end_of_turn,
                                   "custom_attributes": {}})

    async def _stream_audio(self, bot_id, url, turns, people):
        import websockets

        pcm = pcm48()
        chunk = 48000 * 2 // 10  # 100 ms
        try:
            async with websockets.connect(url, max_size=None) as socket:
                await socket.send(json.dumps({"type": "ready", "bot_id": bot_id, "message": "Ready to receive messages"}))
                for start, end, speaker, _ in turns:
                    # The turn plus the pause after it, so the engine hears where it ends.
                    a, b = int(start * 48000) * 2, min(len(pcm), int((end + 0.5) * 48000) * 2)
                    for at in range(a, b, chunk):
                        if self.created[bot_id]["removed"].is_set():
                            break
                        await socket.send(audio_frame(people[speaker], speaker, pcm[at:min(b, at + chunk)]))
                        self.audio_frames += 1
                        if self.pace:
                            await asyncio.sleep(0.1 * self.pace)
                await socket.close(1000)
        except (OSError, websockets.WebSocketException) as exc:
            log.warning("bot %s: live audio socket failed: %r", bot_id, exc)
            self.deliveries.append((url, "live audio", repr(exc)))

    async def _leave(self, bot_id, reason):
        bot = self.created[bot_id]
        await self._status(bot_id, "bot.leaving", "Leaving", reason, 200)
        await self._status(bot_id, "bot.stopped", "Stopped", "Bot exited and step function was triggered", 500)
        await self._status(bot_id, "manifest.completed", "Stopped", "Manifest completed", 200)
        await self._status(bot_id, "audio.processed", "Stopped", "Audio processing completed successfully", 200)
        if bot["transcript_id"]:
            bot["transcript_ready"] = True
            await self._status(bot_id, "transcription.processed", "Stopped",
                               "Transcript processing completed successfully", 200)
        await self._status(bot_id, "bot.done", "Done", "Bot is done", 200)


def describe(fake):
    """MeetStream's bot API on loopback."""
    return f"MeetStream fake: MEETSTREAM_API_URL={fake.api_url}"


def main(argv=None):
    serve_main(MeetStreamFake, argv, prog="python -m tests.fakes.meetstream", describe=describe, options=[
        ("--api-key", "parley-dev-meetstream-key", "the API key sent as 'Authorization: Token <key>'"),
        ("--webhook-secret", "", "sign callbacks with X-MeetStream-Signature using this secret"),
        ("--autoplay", "true", "play a whole meeting for every bot created"),
        ("--pace", "0.5", "seconds between callbacks (0: as fast as possible)"),
    ])


if __name__ == "__main__":
    main()
