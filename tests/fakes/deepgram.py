"""A faithful Deepgram emulator on loopback (aiohttp): the management read, pre-recorded and live ``/v1/listen``.

Shapes from Deepgram's API reference (https://developers.deepgram.com/reference/speech-to-text-api/listen,
https://developers.deepgram.com/reference/speech-to-text-api/listen-streaming, the docs on
endpointing, utterance end, KeepAlive, Finalize and CloseStream, and the SDKs' live-event types):

* ``GET /v1/projects`` with ``Authorization: Token <api key>`` → 200 ``{"projects": [{"project_id",
  "name"}]}`` (https://developers.deepgram.com/reference/management-api/projects/list).
* ``POST /v1/listen?model&language&punctuate&smart_format&diarize&utterances`` with a WAV body → 200
  ``{"metadata": {"request_id", "created", "duration": s, "channels", "models", "model_info"},
  "results": {"channels": [{"alternatives": [{"transcript", "confidence", "words": [{"word", "start",
  "end", "confidence", "speaker", "speaker_confidence", "punctuated_word"}]}]}], "utterances": [{"start",
  "end", "confidence", "channel", "transcript", "words", "speaker", "id"}]}}``, after a processing time
  of ``rtf`` × the audio's duration (divided by ``speed``).
* ``wss /v1/listen?model&language&encoding&sample_rate&channels&interim_results&punctuate&smart_format
  &diarize&endpointing&utterance_end_ms&vad_events``: binary audio in; out ``SpeechStarted``,
  ``Results`` (``is_final: false`` interim results, ``is_final: true`` segments, ``speech_final: true``
  when the speaker paused for ``endpointing`` ms), ``UtteranceEnd`` (``utterance_end_ms`` after the last
  word), and on ``CloseStream`` the last results, ``Metadata`` and a close 1000. ``KeepAlive`` keeps an
  idle socket open; ``Finalize`` flushes the words heard so far as a result with ``from_finalize:
  true`` (an empty one when there are none), after every earlier result.

Recognition is *scripted*: the lines of a real transcript (:func:`load_timed_script`, default the
Endgame dialogue of ``tests/data/audio/endgame_nagg_nell.flac`` with each turn's measured times in
that recording), each word due when the audio received passes its time, as a real recognizer hears it; speakers are numbered in order of
appearance, as Deepgram's diarization numbers them. Live results leave ``latency_ms`` (divided by
``speed``) after the audio that completes them, Deepgram's processing time.

Each connection hears its audio (:class:`tests.fakes.listening.Heard`): a line of the script is
recognized only where the audio carries speech, and a connection whose audio is a replay of an
earlier one's (a client reconnecting) recognizes from that point of the recording, its times
counting from its own first audio. ``drop_after_s`` drops a live connection once it received that
much audio (``drops`` connections, None: every one) with ``drop_code`` 1011 (a close frame, as
Deepgram's server errors) or 1006 (the TCP connection cut, no close frame); results not yet sent
are lost, as in a real drop.

Refusals, as Deepgram answers them (HTTP errors before the WebSocket upgrade, JSON bodies
``{"err_code", "err_msg", "request_id"}`` and a ``dg-error`` header): a missing or wrong key → 401
``INVALID_AUTH`` "Invalid credentials."; a model/language combination not offered → 400 "No such
model/language/tier combination found."; an unknown ``encoding``, or a raw encoding without
``sample_rate`` → 400; a pre-recorded body that is not audio → 400 "failed to process audio: corrupt
or unsupported data" (this emulator decodes WAV only). A live socket that receives neither audio nor
a message for ``idle_timeout_s`` (10 s) is closed with 1011 and Deepgram's NET-0001 reason.
"""
import asyncio
import hashlib
import io
import json
import re
import time
import uuid
import wave
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import WSMsgType, web

from .http import LoopbackFake, json_error, serve_main
from .listening import Heard, drop_connection
from .symbl import DATA, Line, load_script

# The Endgame dialogue with each turn's measured start and end in the recording
# (tests/data/bots/PROVENANCE.md): recognition results line up with the speech itself.
DEFAULT_SCRIPT = DATA / "bots" / "endgame_turns.tsv"

# What the emulator offers (a subset of Deepgram's model/language table,
# https://developers.deepgram.com/docs/models-languages-overview).
LANGUAGES = {
    "nova-3": {"en", "en-US", "en-GB", "en-AU", "en-IN", "en-NZ", "es", "es-419", "fr", "fr-CA", "de", "it", "pt",
               "pt-BR", "nl", "multi"},
    "nova-2": {"en", "en-US", "en-GB", "en-AU", "en-IN", "en-NZ", "es", "es-419", "fr", "fr-CA", "de", "it", "pt",
               "pt-BR", "nl", "ja", "ko", "hi", "ru", "zh", "sv", "da", "tr", "uk", "pl", "multi"},
}
RAW_ENCODINGS = {"linear16": 2, "mulaw": 1, "alaw": 1}
ENCODINGS = set(RAW_ENCODINGS) | {"flac", "opus", "ogg-opus", "amr-nb", "amr-wb", "speex", "g729"}
NET0001 = ("Deepgram did not receive audio data or a text message within the timeout window. "
           "See https://dpgr.am/net0001")
NO_MODEL = "No such model/language/tier combination found."


def load_timed_script(path=DEFAULT_SCRIPT):
    """The lines a recording's recognition is scripted from: a ``start_ms<TAB>end_ms<TAB>speaker<TAB>text``
    TSV (header row) gives each turn's measured times; any other script (a speaker TSV, a QMSum
    meeting) is timed by word count (:func:`tests.fakes.symbl.load_script`)."""
    path = Path(path)
    rows = path.read_text().splitlines() if path.suffix == ".tsv" else []
    if not rows or not rows[0].startswith("start_ms\t"):
        return load_script(path)
    lines = []
    for row in rows[1:]:
        start, end, speaker, text = row.split("\t", 3)
        if text.strip():
            lines.append(Line(speaker.strip(), text.strip(), int(start) / 1000, int(end) / 1000))
    return lines


@dataclass
class Word:
    """One scripted word; times in seconds from the start of the audio."""

    word: str  # lower case, no punctuation: what the recognizer hears
    punctuated: str
    start: float
    end: float
    speaker: int


def script_words(script):
    """The words of ``script`` (:class:`~tests.fakes.symbl.Line` list), spread evenly over each line, with
    the line's speaker numbered by first appearance; returns a list of lines, each a list of :class:`Word`."""
    speakers = {}
    lines = []
    for line in script:
        speaker = speakers.setdefault(line.speaker, len(speakers))
        tokens = line.text.split()
        step = (line.end - line.start) / len(tokens)
        lines.append([Word(re.sub(r"[^\w']", "", t).lower() or t, t, round(line.start + i * step, 3),
                           round(line.start + (i + 1) * step - 0.02, 3), speaker) for i, t in enumerate(tokens)])
    return lines


def _flag(request, name, default=False):
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


def _error(status, message, code="Bad Request"):
    body = {"err_code": code, "err_msg": message, "request_id": str(uuid.uuid4())}
    return json_error(status, body, headers={"dg-error": message})


@dataclass
class Options:
    model: str
    language: str
    punctuate: bool
    smart_format: bool
    diarize: bool


class Stream:
    """One live connection's state: the audio clock and what was sent of the script."""

    def __init__(self, ws, lines, options, heard, interim, endpointing_s, utterance_end_s, vad_events):
        self.ws = ws
        self.lines = lines
        self.options = options
        self.heard = heard
        self.interim = interim
        self.endpointing_s = endpointing_s  # None: endpointing off
        self.utterance_end_s = utterance_end_s  # None: no UtteranceEnd
        self.vad_events = vad_events
        self.located = False  # the words before the connection's offset in the recording are skipped
        self.next_word = [0] * len(lines)  # per line: words already sent as final
        self.interim_sent = set()
        self.speech_started = set()
        self.utterance_end_due = None  # seconds: when an UtteranceEnd is due
        self.request_id = str(uuid.uuid4())
        self.outbox = asyncio.Queue()

    @property
    def clock(self):
        """The recording's time (s) the audio has reached."""
        return self.heard.clock or 0.0

    @property
    def offset(self):
        """Where this connection's audio starts in the recording (s): its times count from there."""
        return self.heard.offset_s or 0.0


class DeepgramFake(LoopbackFake):
    name = "deepgram"

    def __init__(self, *, api_key="parley-dev-deepgram-key", project="Parley test project", script=None, speed=1.0,
                 latency_ms=150, rtf=0.05, idle_timeout_s=10.0, drop_after_s=None, drops=None, drop_code=1011):
        super().__init__()
        self.api_key = api_key
        self.projects = [{"project_id": str(uuid.uuid4()), "name": project}]
        self.script = load_timed_script(script or DEFAULT_SCRIPT)
        self.speed = float(speed)
        self.latency_ms = float(latency_ms)
        self.rtf = float(rtf)
        self.idle_timeout_s = float(idle_timeout_s)
        self.listen_requests = []  # (kind "live" | "prerecorded", query dict)
        self.client_messages = []  # JSON messages received on live sockets
        self.closes = []  # (close code, reason) of live sockets
        self.heard = []  # every live connection's audio (Heard)
        self.drop_after_s, self.drops, self.drop_code = drop_after_s, drops, drop_code
        self.dropped = 0  # live connections dropped

    def routes(self):
        return [web.get("/v1/projects", self.list_projects), web.post("/v1/listen", self.prerecorded),
                web.get("/v1/listen", self.live)]

    def _authenticate(self, request):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "token" or key.strip() != self.api_key:
            raise _error(401, "Invalid credentials.", "INVALID_AUTH")

    async def list_projects(self, request):
        self._authenticate(request)
        return web.json_response({"projects": list(self.projects)})

    def _options(self, request):
        model = request.query.get("model", "nova-3")
        language = request.query.get("language", "en")
        if language not in LANGUAGES.get(model, ()):
            raise _error(400, NO_MODEL)
        return Options(model, language, _flag(request, "punctuate"), _flag(request, "smart_format"),
                       _flag(request, "diarize"))

    def _metadata(self, options, request_id, duration):
        model_id = str(uuid.uuid5(uuid.NAMESPACE_URL, options.model))
        return {"transaction_key": "deprecated", "request_id": request_id,
                "sha256": hashlib.sha256(request_id.encode()).hexdigest(),
                "created": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                "duration": round(duration, 3), "channels": 1, "models": [model_id],
                "model_info": {model_id: {"name": f"general-{options.model}", "version": "2025-01-01.0", "arch": options.model}}}

    def _words(self, words, options, offset=0.0):
        out = []
        for w in words:
            word = {"word": w.word, "start": round(w.start - offset, 3), "end": round(w.end - offset, 3),
                    "confidence": 0.97}
            if options.punctuate or options.smart_format:
                word["punctuated_word"] = w.punctuated
            if options.diarize:
                word["speaker"] = w.speaker
                word["speaker_confidence"] = 0.9
            out.append(word)
        return out

    def _transcript(self, words, options):
        return " ".join(w.punctuated if options.punctuate or options.smart_format else w.word for w in words)

    # -- pre-recorded ----------------------------------------------------------------------------

    async def prerecorded(self, request):
        self._authenticate(request)
        options = self._options(request)
        self.listen_requests.append(("prerecorded", dict(request.query)))
        body = await request.read()
        try:
            with wave.open(io.BytesIO(body)) as audio:
                duration = audio.getnframes() / audio.getframerate()
        except (wave.Error, EOFError, ZeroDivisionError):
            raise _error(400, "Bad Request: failed to process audio: corrupt or unsupported data") from None
        await asyncio.sleep(duration * self.rtf / self.speed)
        lines = [[w for w in line if w.start < duration] for line in script_words(self.script)]
        lines = [line for line in lines if line]
        words = [w for line in lines for w in line]
        alternative = {"transcript": self._transcript(words, options), "confidence": 0.97,
                       "words": self._words(words, options)}
        results = {"channels": [{"alternatives": [alternative]}]}
        if _flag(request, "utterances"):
            results["utterances"] = [{
                "start": line[0].start, "end": line[-1].end, "confidence": 0.97, "channel": 0,
                "transcript": self._transcript(line, options), "words": self._words(line, options),
                "speaker": line[0].speaker if options.diarize else 0, "id": str(uuid.uuid4())} for line in lines]
        return web.json_response({"metadata": self._metadata(options, str(uuid.uuid4()), duration),
                                  "results": results})

    # -- live --------------------------------------------------------------------------------------

    async def live(self, request):
        self._authenticate(request)
        options = self._options(request)
        encoding = request.query.get("encoding", "linear16")
        if encoding not in ENCODINGS:
            raise _error(400, f"Bad Request: unknown encoding {encoding!r}.")
        sample_rate = request.query.get("sample_rate", "")
        if encoding in RAW_ENCODINGS and not sample_rate.isdigit():
            raise _error(400, f"Bad Request: sample_rate is required for raw audio encoded as {encoding}.")
        channels = int(request.query.get("channels", "1") or 1)
        rate = int(sample_rate) if sample_rate.isdigit() else 16000
        endpointing = request.query.get("endpointing", "10")
        utterance_end = request.query.get("utterance_end_ms")
        self.listen_requests.append(("live", dict(request.query)))
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        heard = Heard(encoding, rate * channels, earlier=self.heard)
        self.heard.append(heard)
        stream = Stream(ws, script_words(self.script), options, heard,
                        _flag(request, "interim_results"),
                        None if endpointing == "false" else int(endpointing) / 1000,
                        int(utterance_end) / 1000 if utterance_end else None, _flag(request, "vad_events"))
        sender = asyncio.create_task(self._send_loop(stream))
        close, dropped = (1000, ""), False
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self.idle_timeout_s)
                except TimeoutError:
                    close = (1011, NET0001)
                    break
                if msg.type == WSMsgType.BINARY:
                    if stream.heard.hear(msg.data):
                        self._advance(stream)
                    if self._drop_due(stream):
                        close, dropped = (self.drop_code, ""), True
                        break
                elif msg.type == WSMsgType.TEXT:
                    try:
                        message = json.loads(msg.data)
                    except ValueError:
                        message = {}
                    self.client_messages.append(message)
                    kind = message.get("type") if isinstance(message, dict) else None
                    if kind in ("CloseStream", "Finalize"):
                        stream.heard.hear(b"", last=True)
                    if kind == "CloseStream":
                        self._advance(stream, flush=True)
                        if stream.utterance_end_due is not None:
                            self._utterance_end(stream)
                        stream.outbox.put_nowait(("frame", {"type": "Metadata", **self._metadata(
                            options, stream.request_id, stream.heard.received_s)}))
                        break
                    if kind == "Finalize":
                        if not self._advance(stream, finalize=True):
                            # Nothing was left to finalize: the answer still comes, empty.
                            self._results(stream, [], is_final=True, from_finalize=True)
                    elif kind != "KeepAlive":
                        close = (1008, f"Invalid message type {kind!r}.")
                        break
                else:
                    return ws  # the client went away
        finally:
            if dropped:
                drop_connection(request, stream.outbox, sender, close[0])
            stream.outbox.put_nowait(("close", close))
            await asyncio.gather(sender, return_exceptions=True)
            self.closes.append(close)
        return ws

    def _drop_due(self, stream):
        if self.drop_after_s is None or stream.heard.received_s < self.drop_after_s:
            return False
        if self.drops is not None and self.dropped >= self.drops:
            return False
        self.dropped += 1
        return True

    async def _send_loop(self, stream):
        """Frames leave when due (``latency_ms / speed`` after they were produced, see
        :meth:`_queue`), in order."""
        while True:
            kind, item = await stream.outbox.get()
            if kind == "close":
                if not stream.ws.closed:
                    await stream.ws.close(code=item[0], message=item[1].encode())
                return
            due, frame = item if isinstance(item, tuple) else (None, item)
            if due is not None:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not stream.ws.closed:
                await stream.ws.send_json(frame)

    def _queue(self, stream, frame, *, processed=True):
        due = time.monotonic() + self.latency_ms / 1000 / self.speed if processed else None
        stream.outbox.put_nowait(("frame", (due, frame)))

    def _results(self, stream, words, *, is_final, speech_final=False, from_finalize=False):
        start = words[0].start if words else stream.clock
        frame = {"type": "Results", "channel_index": [0, 1],
                 "duration": round(words[-1].end - start, 3) if words else 0.0,
                 "start": round(start - stream.offset, 3), "is_final": is_final, "speech_final": speech_final,
                 "channel": {"alternatives": [{"transcript": self._transcript(words, stream.options),
                                               "confidence": 0.97,
                                               "words": self._words(words, stream.options, stream.offset)}]},
                 "metadata": {"request_id": stream.request_id,
                              "model_info": {"name": f"general-{stream.options.model}", "version": "2025-01-01.0",
                                             "arch": stream.options.model},
                              "model_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, stream.options.model))}}
        if from_finalize:
            frame["from_finalize"] = True
        if is_final and words:
            stream.heard.final_ends_s.append(words[-1].end)
        self._queue(stream, frame)

    def _utterance_end(self, stream):
        last = max((line[i - 1].end for line, i in zip(stream.lines, stream.next_word) if i), default=0.0)
        self._queue(stream, {"type": "UtteranceEnd", "channel": [0, 1],
                             "last_word_end": round(max(0.0, last - stream.offset), 3)})
        stream.utterance_end_due = None

    def _advance(self, stream, *, flush=False, finalize=False):
        """Send what the audio clock has reached: interim results, final segments, speech_final at
        the endpoint, UtteranceEnd after ``utterance_end_ms`` without words. ``flush``/``finalize``:
        also the words already heard of a line still being spoken. True when a ``from_finalize`` result went out."""
        if stream.heard.offset_s is None:
            return False  # not located in the recording yet
        clock = stream.clock
        finalized = False
        if not stream.located:
            # A replay: what was said before this connection's audio is not in it.
            stream.located = True
            stream.next_word = [sum(w.start < stream.offset for w in line) for line in stream.lines]
        if stream.utterance_end_due is not None:
            following = [line[i].start for line, i in zip(stream.lines, stream.next_word) if i < len(line)]
            if following and following[0] < stream.utterance_end_due and following[0] <= clock:
                stream.utterance_end_due = None  # speech resumed before the gap was long enough
            elif clock >= stream.utterance_end_due:
                self._utterance_end(stream)
        for n, line in enumerate(stream.lines):
            sent = stream.next_word[n]
            if sent == len(line):
                continue
            if line[0].start > clock:
                break
            if not stream.heard.speech_in(line[sent].start, min(line[-1].end, clock)):
                if clock >= line[-1].end:
                    stream.next_word[n] = len(line)  # not said in this audio: nothing to recognize
                    continue
                break
            if stream.vad_events and n not in stream.speech_started:
                stream.speech_started.add(n)
                self._queue(stream, {"type": "SpeechStarted", "channel": [0, 1],
                                     "timestamp": round(max(0.0, line[0].start - stream.offset), 3)},
                            processed=False)
            endpoint = line[-1].end + (stream.endpointing_s or 0)
            heard = [w for w in line[sent:] if w.end <= clock]
            if clock >= endpoint or ((flush or finalize) and heard):
                done = line[sent:] if clock >= line[-1].end else heard
                stream.next_word[n] = sent + len(done)
                whole = stream.next_word[n] == len(line)
                self._results(stream, done, is_final=True,
                              speech_final=whole and stream.endpointing_s is not None and not finalize,
                              from_finalize=finalize)
                finalized = finalized or finalize
                if whole and stream.utterance_end_s is not None:
                    stream.utterance_end_due = line[-1].end + stream.utterance_end_s
                continue
            if len(line) >= 6 and sent == 0 and len(heard) >= len(line) // 2 + 1:
                # A long line is finalized in two segments; only the last one is speech_final.
                half = line[: len(line) // 2]
                stream.next_word[n] = len(half)
                self._results(stream, half, is_final=True)
            elif stream.interim and len(heard) >= 2 and (n, sent, len(heard) // 3) not in stream.interim_sent:
                # Interim results about every third word, as the hypothesis grows.
                stream.interim_sent.add((n, sent, len(heard) // 3))
                self._results(stream, heard, is_final=False)
            break
        return finalized


def describe(fake):
    """Deepgram's API on loopback."""
    return f"Deepgram fake: DEEPGRAM_API_URL={fake.url}"


def main(argv=None):
    serve_main(DeepgramFake, argv, prog="python -m tests.fakes.deepgram", describe=describe, options=[
        ("--api-key", "parley-dev-deepgram-key", "the API key sent as 'Authorization: Token <key>'"),
        ("--script", str(DEFAULT_SCRIPT), "the transcript to recognize (timed turns TSV, speaker TSV or QMSum JSON)"),
        ("--speed", "1.0", "how many times faster than Deepgram's own the emulator answers"),
    ])


if __name__ == "__main__":
    main()
