"""An uploaded recording, fed at real-time pace (to watch it live) or as fast as the engine goes."""
import asyncio
import itertools
import time

from .. import audio, events
from .base import Source

CHUNK_MS = 100
BATCH = 20  # chunks decoded per trip to the decoding thread
PROGRESS_EVERY_S = 1.0


class UploadSource(Source):
    async def chunks(self):
        meeting = self.meeting
        pcm = audio.iter_pcm(meeting.recording.path, start_ms=self.resume_ms, chunk_ms=CHUNK_MS)
        processed_ms = self.resume_ms
        started = time.monotonic()
        last_progress = 0.0
        stopped = self.control.stopped
        while not stopped.is_set():
            # PyAV decodes off the event loop; a batch per trip keeps the hops cheap.
            batch = await asyncio.to_thread(lambda: list(itertools.islice(pcm, BATCH)))
            if not batch:
                break
            for chunk in batch:
                yield chunk
                processed_ms += len(chunk) * 1000 // (2 * audio.SAMPLE_RATE)
                if meeting.realtime:
                    due = started + (processed_ms - self.resume_ms) / 1000
                    delay = due - time.monotonic()
                    if delay > 0:
                        try:
                            await asyncio.wait_for(stopped.wait(), timeout=delay)
                        except TimeoutError:
                            pass
                if stopped.is_set():
                    break
                now = time.monotonic()
                if now - last_progress >= PROGRESS_EVERY_S:
                    last_progress = now
                    await self.emit(events.progress(processed_ms, meeting.duration_ms))
        if not stopped.is_set():
            # The container's duration is an estimate; the end of the audio is 100 %.
            processed_ms = max(processed_ms, meeting.duration_ms or 0)
        await self.emit(events.progress(processed_ms, meeting.duration_ms))
