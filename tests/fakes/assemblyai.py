"""A faithful AssemblyAI emulator on loopback (aiohttp): transcripts (list, upload, submit, poll) and
Universal-Streaming v3.

Shapes from AssemblyAI's API reference (https://www.assemblyai.com/docs/api-reference/transcripts,
https://www.assemblyai.com/docs/api-reference/streaming-api/universal-streaming, the streaming
message sequence and "Common session errors and closures" pages). Authentication: the bare key in
``Authorization``.

* ``GET /v2/transcript?limit=N`` → 200 ``{"page_details": {"limit", "result_count", "current_url",
  "prev_url", "next_url"}, "transcripts": [...]}``; a ``limit`` outside 1–200 → 400 ``{"error"}``.
* ``POST /v2/upload`` (the audio as the body) → ``{"upload_url"}``.
* ``POST /v2/transcript`` ``{"audio_url", "speaker_labels", "language_code", ...}`` → the transcript
  object, ``status: "queued"``; it is ``processing`` and then ``completed`` after ``rtf`` × the audio's
  duration (divided by ``speed``), with ``text``, ``words`` (ms) and, with ``speaker_labels``,
  ``utterances`` (speakers "A", "B", … in order of appearance); audio it cannot decode (this emulator
  decodes WAV only) ends ``status: "error"`` with AssemblyAI's transcoding message. An unsupported
  ``language_code`` or no ``audio_url`` → 400 ``{"error"}``.
* ``GET /v2/transcript/{id}`` → the transcript object; an unknown id → 404.
* ``wss /v3/ws?sample_rate&encoding&speech_model&format_turns&speaker_labels&inactivity_timeout
  &min_end_of_turn_silence_when_confident``: ``Begin`` ``{"id", "expires_at"}``; binary audio frames
  of 50–1,000 ms; ``Turn`` messages ``{"turn_order", "turn_is_formatted", "end_of_turn", "transcript",
  "end_of_turn_confidence", "words": [{"start": ms, "end": ms, "text", "confidence", "word_is_final"}],
  "utterance"}`` (unformatted words as they are heard; at the end of a turn ``end_of_turn: true``, then
  with ``format_turns`` the same turn formatted); ``ForceEndpoint`` ends the turn in progress;
  ``KeepAlive`` resets the inactivity timer; ``Terminate`` → the last turns, ``Termination``
  ``{"audio_duration_seconds", "session_duration_seconds"}`` and a close 1000.

Recognition is scripted from a real transcript (:func:`tests.fakes.deepgram.load_timed_script`,
default the Endgame dialogue of ``tests/data/audio/endgame_nagg_nell.flac`` with its turns' measured
times; words timed by :func:`tests.fakes.deepgram.script_words`), each word due when the audio received passes it; turns
leave ``latency_ms`` / ``speed`` after the audio that ends them.

Each connection hears its audio (:class:`tests.fakes.listening.Heard`): a line of the script is
recognized only where the audio carries speech, and a connection whose audio is a replay of an
earlier one's (a client reconnecting) recognizes from that point of the recording, its times
counting from its own first audio. ``drop_after_s`` drops a streaming connection once it received
that much audio (``drops`` connections, None: every one) with ``drop_code`` 1011 (a close frame,
no ``Error`` message: a server fault) or 1006 (the TCP connection cut); turns not yet sent are lost.

Session errors, as AssemblyAI sends them: an ``Error`` frame ``{"type": "Error", "error_code", "error"}``,
then a close with that code: a missing or wrong key → 1008 "Unauthorized Connection: …"; a frame
outside 50–1,000 ms → 3007 "Input Duration Violation"; audio sent faster than ``speed`` × real time
(after a burst of ``burst_s``) → 3007 "Audio Transmission Rate Exceeded"; an encoding other than
``pcm_s16le``/``pcm_mulaw``, an unknown ``speech_model`` or an unknown message → 3006. With
``inactivity_timeout`` (5–3600 s), a socket that receives nothing for that long gets its
``Termination`` and a close 1000.
"""
import asyncio
import io
import json
import time
import uuid
import wave
from datetime import datetime, timezone

from aiohttp import WSMsgType, web

from .deepgram import DEFAULT_SCRIPT, load_timed_script, script_words
from .http import LoopbackFake, json_error, serve_main
from .listening import Heard, drop_connection

BAD_KEY = "Authentication error, API token missing/invalid"
ENCODINGS = {"pcm_s16le": 2, "pcm_mulaw": 1}
SPEECH_MODELS = {"universal-streaming-english", "universal-streaming-multilingual"}
# Pre-recorded language codes this emulator offers (a subset of AssemblyAI's list,
# https://www.assemblyai.com/docs/pre-recorded-audio/supported-languages).
LANGUAGES = {"en", "en_us", "en_uk", "en_au", "es", "fr", "de", "it", "pt", "nl", "hi", "ja", "zh", "fi", "ko",
             "pl", "ru", "tr", "uk", "vi"}


def _label(index):
    return chr(ord("A") + index)


class AssemblyAIFake(LoopbackFake):
    name = "assemblyai"

    def __init__(self, *, api_key="parley-dev-assemblyai-key", script=None, speed=1.0, latency_ms=300, rtf=0.1,
                 burst_s=10.0, drop_after_s=None, drops=None, drop_code=1011):
        super().__init__()
        self.api_key = api_key
        self.script = load_timed_script(script or DEFAULT_SCRIPT)
        self.speed = float(speed)
        self.latency_ms = float(latency_ms)
        self.rtf = float(rtf)
        self.burst_s = float(burst_s)
        self.transcripts = []  # the listing's items, newest first
        self.jobs = {}  # transcript id -> transcript object
        self.uploads = {}  # upload id -> bytes
        self.sessions = []  # streaming: {"query", "messages": [client JSON], "frames_ms": [...], "close"}
        self.heard = []  # every streaming connection's audio (Heard)
        self.drop_after_s, self.drops, self.drop_code = drop_after_s, drops, drop_code
        self.dropped = 0  # streaming connections dropped

    def routes(self):
        return [web.get("/v2/transcript", self.list_transcripts), web.post("/v2/upload", self.upload),
                web.post("/v2/transcript", self.submit), web.get("/v2/transcript/{id}", self.get_transcript),
                web.get("/v3/ws", self.streaming)]

    def _authenticate(self, request):
        if request.headers.get("Authorization", "").strip() != self.api_key:
            raise json_error(401, {"error": BAD_KEY})

    async def list_transcripts(self, request):
        self._authenticate(request)
        limit = request.query.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            raise json_error(400, {"error": "limit must be an integer from 1 to 200"})
        page = self.transcripts[:int(limit)]
        return web.json_response({
            "page_details": {"limit": int(limit), "result_count": len(page), "current_url": str(request.url),
                             "prev_url": None, "next_url": None},
            "transcripts": page,
        })

    # -- pre-recorded ----------------------------------------------------------------------------

    async def upload(self, request):
        self._authenticate(request)
        upload_id = str(uuid.uuid4())
        self.uploads[upload_id] = await request.read()
        return web.json_response({"upload_url": f"{self.url}/upload/{upload_id}"})

    async def submit(self, request):
        self._authenticate(request)
        try:
            body = await request.json()
        except ValueError:
            raise json_error(400, {"error": "The request body is not valid JSON."}) from None
        if not isinstance(body, dict) or not body.get("audio_url"):
            raise json_error(400, {"error": "audio_url is required."})
        language = body.get("language_code") or "en_us"
        if language not in LANGUAGES:
            raise json_error(400, {"error": f"language_code {language!r} is not supported."})
        transcript = {"id": str(uuid.uuid4()), "status": "queued", "audio_url": body["audio_url"],
                      "language_code": language, "speaker_labels": bool(body.get("speaker_labels")),
                      "punctuate": body.get("punctuate", True), "format_text": body.get("format_text", True),
                      "text": None, "words": None, "utterances": None, "confidence": None,
                      "audio_duration": None, "error": None}
        self.jobs[transcript["id"]] = transcript
        self.transcripts.insert(0, {"id": transcript["id"], "resource_url": f"{self.url}/v2/transcript/{transcript['id']}",
                                    "status": "queued", "created": datetime.now(timezone.utc).isoformat(),
                                    "completed": None, "audio_url": body["audio_url"], "error": None})
        asyncio.get_running_loop().create_task(self._process(transcript))
        return web.json_response(transcript)

    async def _process(self, transcript):
        await asyncio.sleep(0.05 / self.speed)
        transcript["status"] = "processing"
        audio = self.uploads.get(transcript["audio_url"].rsplit("/", 1)[-1])
        try:
            if audio is None:
                raise ValueError("Download error, unable to download the audio_url.")
            with wave.open(io.BytesIO(audio)) as wav:
                duration = wav.getnframes() / wav.getframerate()
        except (wave.Error, EOFError, ZeroDivisionError):
            self._finish(transcript, "error", error="Transcoding failed. File does not appear to contain audio.")
            return
        except ValueError as exc:
            self._finish(transcript, "error", error=str(exc))
            return
        await asyncio.sleep(duration * self.rtf / self.speed)
        lines = [[w for w in line if w.start < duration] for line in script_words(self.script)]
        lines = [line for line in lines if line]
        words = [self._word(w, transcript["speaker_labels"], formatted=transcript["format_text"])
                 for line in lines for w in line]
        result = {"text": " ".join(w["text"] for w in words), "words": words, "confidence": 0.95,
                  "audio_duration": round(duration)}
        if transcript["speaker_labels"]:
            result["utterances"] = [{
                "speaker": _label(line[0].speaker), "confidence": 0.95, "start": round(line[0].start * 1000),
                "end": round(line[-1].end * 1000),
                "text": " ".join(w.punctuated if transcript["format_text"] else w.word for w in line),
                "words": [self._word(w, True, formatted=transcript["format_text"]) for w in line]} for line in lines]
        self._finish(transcript, "completed", **result)

    def _finish(self, transcript, status, **fields):
        transcript.update(status=status, **fields)
        for item in self.transcripts:
            if item["id"] == transcript["id"]:
                item.update(status=status, completed=datetime.now(timezone.utc).isoformat(),
                            error=fields.get("error"))

    @staticmethod
    def _word(w, speaker_labels, *, formatted=True, final=None, offset=0.0):
        word = {"text": w.punctuated if formatted else w.word, "start": round((w.start - offset) * 1000),
                "end": round((w.end - offset) * 1000), "confidence": 0.95}
        if final is not None:
            word["word_is_final"] = final
        elif speaker_labels:
            word["speaker"] = _label(w.speaker)
        return word

    async def get_transcript(self, request):
        self._authenticate(request)
        transcript = self.jobs.get(request.match_info["id"])
        if transcript is None:
            raise json_error(404, {"error": "Transcript not found."})
        return web.json_response(transcript)

    # -- Universal-Streaming v3 --------------------------------------------------------------------

    async def streaming(self, request):
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        query = request.query
        record = {"query": dict(query), "messages": [], "frames_ms": [], "close": None}
        self.sessions.append(record)

        async def fail(code, message):
            await ws.send_json({"type": "Error", "error_code": code, "error": message})
            await ws.close(code=code, message=message[:120].encode())
            record["close"] = (code, message)
            return ws

        key = request.headers.get("Authorization", "").strip() or query.get("token", "")
        if not key:
            return await fail(1008, "Unauthorized Connection: Missing Authorization header")
        if key != self.api_key:
            return await fail(1008, "Unauthorized Connection: Invalid API key")
        encoding = query.get("encoding", "pcm_s16le")
        if encoding not in ENCODINGS:
            return await fail(3006, f"Invalid Message: encoding {encoding!r} is not one of pcm_s16le, pcm_mulaw")
        model = query.get("speech_model", "universal-streaming-english")
        if model not in SPEECH_MODELS:
            return await fail(3006, f"Invalid Message: unknown speech_model {model!r}")
        rate = int(query.get("sample_rate", "16000") or 16000)
        bytes_per_second = rate * ENCODINGS[encoding]
        format_turns = query.get("format_turns", "false").lower() == "true"
        speaker_labels = query.get("speaker_labels", "false").lower() == "true"
        silence_s = int(query.get("min_end_of_turn_silence_when_confident", "160")) / 1000
        idle = float(query["inactivity_timeout"]) if query.get("inactivity_timeout") else None
        session_id = str(uuid.uuid4())
        started = time.monotonic()
        await ws.send_json({"type": "Begin", "id": session_id, "expires_at": int(time.time()) + 3 * 3600})
        lines = script_words(self.script)
        sent = [0] * len(lines)  # per line: words already ended in a turn
        heard_partial = [0] * len(lines)
        heard = Heard(encoding, rate, earlier=self.heard)
        self.heard.append(heard)
        located = False
        outbox = asyncio.Queue()
        sender = asyncio.create_task(self._send_loop(ws, outbox))

        order = {}  # script line -> its turn_order: the session's turns numbered from 0

        def turn(n, words, *, end, formatted=False):
            payload = {"turn_order": order.setdefault(n, len(order)), "turn_is_formatted": formatted, "end_of_turn": end,
                       "transcript": " ".join(w.punctuated if formatted else w.word
                                              for w in words if end or w is not words[-1]),
                       "end_of_turn_confidence": 0.9 if end else 0.05,
                       "words": [self._word(w, False, formatted=formatted, final=end or w is not words[-1],
                                            offset=heard.offset_s) for w in words],
                       "utterance": " ".join(w.punctuated if formatted else w.word for w in words) if end else "",
                       "type": "Turn"}
            if speaker_labels:
                payload["speaker_label"] = _label(words[0].speaker)
            if end and words:
                heard.final_ends_s.append(words[-1].end)
            outbox.put_nowait((time.monotonic() + self.latency_ms / 1000 / self.speed, payload))

        def end_turn(n, words):
            turn(n, words, end=True)
            if format_turns:
                turn(n, words, end=True, formatted=True)

        def advance(*, flush=False):
            nonlocal located
            if heard.offset_s is None:
                return  # not located in the recording yet
            if not located:
                # A replay: what was said before this connection's audio is not in it.
                located = True
                for n, line in enumerate(lines):
                    sent[n] = sum(w.start < heard.offset_s for w in line)
            clock = heard.clock
            for n, line in enumerate(lines):
                if sent[n] == len(line):
                    continue
                if line[0].start > clock:
                    break
                if not heard.speech_in(line[sent[n]].start, min(line[-1].end, clock)):
                    if clock >= line[-1].end:
                        sent[n] = len(line)  # not said in this audio: nothing to recognize
                        continue
                    break
                rest = line[sent[n]:]
                said = [w for w in rest if w.end <= clock]
                if clock >= line[-1].end + silence_s or (flush and said):
                    end_turn(n, rest if clock >= line[-1].end else said)
                    sent[n] = len(line)
                    continue
                if len(said) > heard_partial[n]:
                    heard_partial[n] = len(said)
                    turn(n, said, end=False)
                break

        close, dropped = (1000, ""), False
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=idle)
                except TimeoutError:
                    break  # inactivity_timeout: the session ends with its Termination
                if msg.type == WSMsgType.BINARY:
                    frame_ms = len(msg.data) * 1000 / bytes_per_second
                    record["frames_ms"].append(frame_ms)
                    if not 50 <= frame_ms <= 1000:
                        close = (3007, f"Input Duration Error: Input Duration Violation: {frame_ms:.1f} ms. "
                                       "Expected between 50 and 1000 ms")
                        break
                    heard.hear(msg.data)
                    elapsed = time.monotonic() - started
                    if heard.received_s > self.speed * elapsed + self.burst_s:
                        close = (3007, f"Audio Transmission Rate Exceeded: Received "
                                       f"{heard.received_s:.1f} sec. audio in {elapsed:.1f} sec")
                        break
                    advance()
                    if self._drop_due(heard):
                        close, dropped = (self.drop_code, ""), True
                        break
                elif msg.type == WSMsgType.TEXT:
                    try:
                        message = json.loads(msg.data)
                    except ValueError:
                        close = (3006, f"Invalid JSON: {msg.data[:100]}")
                        break
                    record["messages"].append(message)
                    kind = message.get("type") if isinstance(message, dict) else None
                    if kind in ("Terminate", "ForceEndpoint"):
                        heard.hear(b"", last=True)
                    if kind == "Terminate":
                        advance(flush=True)
                        break
                    if kind == "ForceEndpoint":
                        advance(flush=True)
                    elif kind not in ("KeepAlive", "UpdateConfiguration"):
                        close = (3006, f"Invalid Message Type: {kind!r}")
                        break
                else:
                    return ws
            if dropped:
                drop_connection(request, outbox, sender, close[0])
            elif close[0] == 1000:
                outbox.put_nowait((None, {"type": "Termination",
                                          "audio_duration_seconds": round(heard.received_s, 2),
                                          "session_duration_seconds": round(time.monotonic() - started, 2)}))
            else:
                outbox.put_nowait((None, {"type": "Error", "error_code": close[0], "error": close[1]}))
        finally:
            outbox.put_nowait(None)
            await asyncio.gather(sender, return_exceptions=True)
            if not ws.closed:
                await ws.close(code=close[0], message=close[1][:120].encode())
            record["close"] = close
        return ws

    def _drop_due(self, heard):
        if self.drop_after_s is None or heard.received_s < self.drop_after_s:
            return False
        if self.drops is not None and self.dropped >= self.drops:
            return False
        self.dropped += 1
        return True

    @staticmethod
    async def _send_loop(ws, outbox):
        while True:
            item = await outbox.get()
            if item is None:
                return
            due, frame = item
            if due is not None:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not ws.closed:
                await ws.send_json(frame)


def describe(fake):
    """AssemblyAI's API on loopback."""
    return f"AssemblyAI fake: ASSEMBLYAI_API_URL={fake.url} ASSEMBLYAI_WS_URL={fake.url.replace('http', 'ws', 1)}"


def main(argv=None):
    serve_main(AssemblyAIFake, argv, prog="python -m tests.fakes.assemblyai", describe=describe, options=[
        ("--api-key", "parley-dev-assemblyai-key", "the API key sent as the bare 'Authorization' header"),
        ("--script", str(DEFAULT_SCRIPT), "the transcript to recognize (timed turns TSV, speaker TSV or QMSum JSON)"),
        ("--speed", "1.0", "how many times faster than AssemblyAI's own the emulator answers and accepts audio"),
    ])


if __name__ == "__main__":
    main()
