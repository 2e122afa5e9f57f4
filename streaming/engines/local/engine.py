"""The local engine: faster-whisper speech recognition and Parley's insight pipeline, on this machine.

No account and no network. Audio is cut into utterances at pauses (Silero VAD), each decoded by
the process-wide Whisper pool; a growing utterance gets cheap provisional decodes. Every final
utterance feeds :class:`streaming.insights.InsightPipeline`, whose questions, action items,
follow-ups, topics and closing summary are emitted as Symbl-shaped events.
"""
import asyncio

from ... import events
from ...insights import InsightPipeline, Utterance
from ..base import Engine, EngineError
from .asr import StreamingTranscriber, get_pool


class LocalEngine(Engine):
    name = "local"

    async def open(self):
        try:
            # Loading the model takes a second or two the first time: off the event loop.
            pool = await asyncio.to_thread(get_pool)
        except Exception as exc:
            raise EngineError(f"The local speech model could not be loaded: {exc}") from exc
        session = self.session
        self.user = events.user_ref(session.speaker_key, session.speaker_name)
        self.insights = InsightPipeline(reference_time=session.started_at, speakers=[session.speaker_name])
        if session.known_utterances:
            self.insights.restore(Utterance(*u) for u in session.known_utterances)
        self.transcriber = StreamingTranscriber(
            on_partial=self._partial, on_final=self._final, start_ms=session.resume_ms, pool=pool
        )
        await self.emit(events.platform("conversation_created", conversationId=str(session.meeting_id)))
        await self.emit(events.platform("recognition_started", conversationId=str(session.meeting_id)))

    async def _partial(self, text, start_ms):
        await self.emit(events.recognition_result(text, is_final=False, user=self.user, time_offset_ms=start_ms))

    async def _final(self, text, start_ms, end_ms):
        message_id = events.new_id()
        await self.emit(events.recognition_result(text, is_final=True, user=self.user, time_offset_ms=start_ms))
        await self.emit(events.message_response(message_id, text, user=self.user, start_ms=start_ms, end_ms=end_ms))
        utterance = Utterance(message_id, self.user["name"], text, start_ms, end_ms)
        for event in await asyncio.to_thread(self.insights.add, utterance):
            await self.emit(event)

    async def send_audio(self, pcm):
        await self.transcriber.feed(pcm)

    async def pause(self):
        await self.transcriber.pause()

    def abort(self):
        if hasattr(self, "transcriber"):
            self.transcriber.cancel()

    async def flush(self):
        await self.transcriber.flush()

    async def close(self):
        await self.flush()
        await self.emit(events.platform("recognition_stopped"))
        for event in await asyncio.to_thread(self.insights.finish):
            await self.emit(event)
        conversation = str(self.session.meeting_id)
        completed = events.platform("conversation_completed", conversationId=conversation)
        completed["message"]["conversationId"] = conversation
        await self.emit(completed)
