"""The Twilio call source: a call's tracks, from the Media Streams consumer, into the engine.

:class:`TwilioSource` runs in the session's runner. It joins the call's channel-layer group
(:mod:`.bridge`), tells the consumer it listens, and takes the call's media in order until the
call ends (``stop``, or the socket closed) or the session is stopped in Parley (then it asks the
consumer to hang up and still takes what the consumer had, so the last second is not lost).

**Two tracks, two speakers.** A forked call (``<Start><Stream track="both_tracks">``) carries the
caller on the ``inbound`` track and the other party on ``outbound``. Each track gets its own
recognizer with its own speaker, rather than one mixed stream: the tracks are already separated,
so attribution is exact and free (no diarization guesses on a mixed signal), and overlapping
speech is transcribed on both sides instead of garbling each other.

* ``local``, ``deepgram`` and ``assemblyai`` engines (:class:`LocalTracks`): each track is decoded
  from mu-law and resampled to PCM 16 kHz (:class:`~.media.MulawDecoder`) and fed to an engine of
  its own, whose speaker is that track's party (a cloud engine opens one provider socket per
  track, without diarization); the engines share one insight pipeline, so questions, action
  items, topics and the summary cover the whole conversation, once.
* ``symbl`` engine (:class:`SymblTracks`): one Streaming API connection per track, each with
  ``speechRecognition {"encoding": "MULAW", "sampleRateHertz": 8000}`` and that track's
  ``speaker`` in its ``start_request``; Twilio's mu-law goes out untouched, ~100 ms (800 bytes) a
  send. One connection per track and not one connection with speaker events: Symbl's Streaming
  API attributes a connection's audio to the ``speaker`` of its ``start_request``, and speaker
  events on a mixed stream would attribute overlapping speech to whoever spoke last.
  (https://docs.symbl.ai/docs/streamingapi/reference, ``shared/api-contracts.md`` §2 and §10.)
"""
import asyncio
import logging
import threading
import uuid
from dataclasses import replace

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from streaming import events
from streaming.engines.base import EngineError
from streaming.sources.base import Source

from ..models import TwilioCall
from . import bridge
from .media import MulawDecoder

log = logging.getLogger(__name__)

END_GRACE_S = 10  # after a stop from Parley: how long the call's last audio may take to arrive
# Platform messages every engine emits once per session: only the caller's engine's are kept.
STOPPED = {"type": "parley.stopped"}  # in the source's queue: the session was stopped in Parley
SESSION_MESSAGES = {"conversation_created", "started_listening", "recognition_started", "recognition_stopped",
                    "conversation_completed"}


def parties(call):
    """``{track: (speaker key, speaker name)}`` for ``call``: the caller on inbound, the other
    party (the number a forked call was dialed on, else the number called) on outbound."""
    return {
        "inbound": ("caller", call.from_number or "Caller"),
        "outbound": ("other-party", call.forward_to or call.to_number or "Other party"),
    }


class TwilioSource(Source):
    # Runs the tracks' engines itself: one engine per track, which the runner's one-stream loop
    # cannot do.
    drives_engine = True
    # How long the call's media stream may take to arrive after the session started (s); a call
    # whose stream never comes (a refused signature, a caller who hung up) fails with the reason.
    connect_timeout_s = 60.0

    async def run(self, engine, went_live):
        call = await sync_to_async(TwilioCall.objects.get)(meeting_id=self.meeting.pk)
        tracks = (SymblTracks if self.meeting.engine == "symbl" else LocalTracks)(engine, call, self.emit)
        await tracks.open()
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(bridge.runner_group(self.meeting.pk), channel)
        inbox = asyncio.Queue()
        listener = asyncio.create_task(self._listen(layer, channel, inbox))
        # A stop in Parley arrives in the same queue as the call's messages: one await a message.
        stopped = asyncio.create_task(self._post_stop(inbox))
        live = False
        try:
            await self._to_consumer(layer, "twilio.listening")
            while True:
                if live:
                    message = await inbox.get()
                else:
                    try:
                        message = await asyncio.wait_for(inbox.get(), self.connect_timeout_s)
                    except TimeoutError:
                        raise EngineError(f"Twilio did not open the call's media stream within "
                                          f"{self.connect_timeout_s:g} s.") from None
                if message is STOPPED:
                    await self._finish_after_stop(layer, inbox, tracks)
                    break
                if not live:
                    live = True
                    await went_live()
                if not await self._handle(message, tracks):
                    break
        except BaseException:
            # Taken over by another runner (cancelled) or failed: stop every track's recognizer
            # or upstream socket at once; nothing more is emitted.
            tracks.abort()
            raise
        finally:
            stopped.cancel()
            listener.cancel()
            await layer.group_discard(bridge.runner_group(self.meeting.pk), channel)
        await tracks.close()

    async def _post_stop(self, inbox):
        await self.control.stopped.wait()
        inbox.put_nowait(STOPPED)

    async def _listen(self, layer, channel, inbox):
        while True:
            message = await layer.receive(channel)
            if message.get("type") == "twilio.hello":
                # A consumer that joined after this source announced itself.
                await self._to_consumer(layer, "twilio.listening")
            else:
                inbox.put_nowait(message)

    async def _to_consumer(self, layer, kind):
        await layer.group_send(bridge.consumer_group(self.meeting.pk), {"type": kind})

    async def _handle(self, message, tracks):
        """Apply one bridge message; False once the call has ended."""
        kind = message.get("type")
        if kind == "twilio.media":
            await tracks.feed(message["track"], message["ulaw"], message.get("ts"))
        elif kind == "twilio.dtmf":
            await self.emit(events.provider_event("twilio", "dtmf", {"digit": message.get("digit", "")}))
        elif kind == "twilio.end":
            log.info("meeting %s: the call ended: %s", self.meeting.pk, message.get("reason", ""))
            return False
        return True

    async def _finish_after_stop(self, layer, inbox, tracks):
        """Stopped in Parley: hang up, and take the audio the consumer still sends until its end."""
        await self._to_consumer(layer, "twilio.hangup")
        try:
            async with asyncio.timeout(END_GRACE_S):
                while (message := await inbox.get()) is STOPPED or await self._handle(message, tracks):
                    pass
        except TimeoutError:
            log.warning("meeting %s: the call's end did not arrive within %d s of the stop", self.meeting.pk,
                        END_GRACE_S)


class _SharedPipeline:
    """One :class:`~streaming.insights.InsightPipeline` for the engines of all tracks; they call it
    from worker threads (``asyncio.to_thread``), hence the lock."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.lock = threading.Lock()

    def add(self, utterance):
        with self.lock:
            return self.pipeline.add(utterance)

    def finish(self):
        with self.lock:
            return self.pipeline.finish()

    def restore(self, utterances):
        with self.lock:
            return self.pipeline.restore(utterances)


class LocalTracks:
    """One engine per track, fed PCM 16 kHz (see the module's docstring), for every engine but
    Symbl's: the local engine, and the cloud engines (one provider socket per track, with its
    party as the speaker); the runner's engine takes the caller."""

    def __init__(self, engine, call, emit):
        self.primary = engine
        self.call = call
        self.emit = emit
        self.parties = parties(call)
        self.engines = {}
        self.decoders = {}

    async def open(self):
        from streaming.insights import InsightPipeline, Utterance

        session = self.primary.session
        key, name = self.parties["inbound"]
        self.primary.session = replace(session, speaker_key=key, speaker_name=name)
        await self.primary.open()
        names = [party[1] for party in self.parties.values()]
        self.shared = _SharedPipeline(InsightPipeline(reference_time=session.started_at, speakers=names))
        if session.known_utterances:
            self.shared.restore(Utterance(*u) for u in session.known_utterances)
        self.primary.insights = self.shared
        self.engines["inbound"] = self.primary

    async def _engine(self, track, timestamp_ms):
        engine = self.engines.get(track)
        if engine is None:
            key, name = self.parties[track]
            # Its clock starts where the track's first audio sits in the call, so both tracks'
            # utterances interleave by time.
            session = replace(self.primary.session, speaker_key=key, speaker_name=name,
                              resume_ms=max(int(timestamp_ms or 0), self.primary.session.resume_ms))
            engine = type(self.primary)(session, self._secondary_emit)
            await engine.open()
            engine.insights = self.shared
            self.engines[track] = engine
        return engine

    async def _secondary_emit(self, event):
        if events.event_type(event) not in SESSION_MESSAGES:
            await self.emit(event)

    async def feed(self, track, ulaw, timestamp_ms):
        engine = await self._engine(track, timestamp_ms)
        decoder = self.decoders.setdefault(track, MulawDecoder())
        pcm = decoder.decode(ulaw)
        if pcm:
            await engine.send_audio(pcm)

    def abort(self):
        for engine in self.engines.values():
            engine.abort()

    async def close(self):
        """Every track's last audio, then its last utterance, into the shared pipeline; then the
        caller's engine closes the session (final topics, the summary)."""
        for track, decoder in self.decoders.items():
            tail = decoder.flush()
            if tail:
                await self.engines[track].send_audio(tail)
        for track, engine in self.engines.items():
            if engine is not self.primary:
                await engine.flush()
        await self.primary.close()


class SymblTracks:
    """One Symbl Streaming API connection per track, mu-law 8 kHz (see the module's docstring).

    The caller's connection uses the meeting's saved connectionId (:class:`~streaming.models.SymblSession`),
    so reconciliation with the Conversation API follows that conversation; the other party's is
    derived from it.
    """

    def __init__(self, engine, call, emit):
        self.engine = engine
        self.call = call
        self.emit = emit
        self.parties = parties(call)
        self.streams = {}

    async def open(self):
        from streaming.engines.symbl.client import SymblError
        from streaming.engines.symbl.credentials import client_for
        from streaming.engines.symbl.engine import _load, _reason

        meeting, self.state = await sync_to_async(_load)(self.call.meeting_id)
        self.client = client_for(meeting)
        try:
            await self.client.token()
        except SymblError as exc:
            await self.client.aclose()
            raise EngineError(_reason(exc)) from exc
        self._reason = _reason

    async def _stream(self, track):
        from streaming.engines.symbl.client import SymblError
        from streaming.engines.symbl.streaming import StreamingSession, start_request

        stream = self.streams.get(track)
        if stream is None:
            key, name = self.parties[track]
            session = self.engine.session
            connection_id = self.state.connection_id if track == "inbound" else \
                str(uuid.uuid5(uuid.UUID(self.state.connection_id), track))
            start = start_request(title=session.title, language=session.language, speaker_id=key, speaker_name=name,
                                  encoding="MULAW", sample_rate=8000, trackers=session.trackers)
            primary = track == "inbound"
            stream = StreamingSession(self.client, connection_id, start,
                                      lambda frame: self._on_frame(frame, connection_id, primary))
            try:
                await stream.open()
            except SymblError as exc:
                raise EngineError(self._reason(exc)) from exc
            self.streams[track] = stream
        return stream

    async def _on_frame(self, frame, connection_id, primary):
        from streaming.engines.symbl.engine import _save
        from streaming.engines.symbl.mapping import to_events

        for event in to_events(frame, connection_id=connection_id):
            kind = events.event_type(event)
            if kind in SESSION_MESSAGES and not primary:
                continue
            if kind == "conversation_created":
                conversation_id = str((event["message"].get("data") or {}).get("conversationId") or "")
                if conversation_id and conversation_id != self.state.conversation_id:
                    self.state.conversation_id = conversation_id
                    await sync_to_async(_save)(self.call.meeting_id, conversation_id=conversation_id)
            await self.emit(event)

    async def feed(self, track, ulaw, timestamp_ms):
        from streaming.engines.symbl.client import SymblError

        stream = await self._stream(track)
        try:
            await stream.send_audio(ulaw)
        except SymblError as exc:
            raise EngineError(self._reason(exc)) from exc

    def abort(self):
        for stream in self.streams.values():
            stream.abort()

    async def close(self):
        from streaming.engines.symbl.client import SymblError
        from streaming.tasks import reconcile_later

        try:
            # The other party's conversation first: the caller's conversation_completed ends the session.
            for track in sorted(self.streams, key=lambda t: t == "inbound"):
                try:
                    await self.streams[track].stop()
                except SymblError as exc:
                    raise EngineError(self._reason(exc)) from exc
        finally:
            await self.client.aclose()
        if "inbound" in self.streams:
            await reconcile_later(self.call.meeting_id)
