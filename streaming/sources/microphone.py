"""The browser microphone: PCM frames arriving from ``MicrophoneConsumer`` through the channel layer."""
import asyncio

from django.conf import settings

from .base import PAUSE, Source


class MicrophoneSource(Source):
    """Audio until Stop, or until no audio arrived for ``PARLEY_MIC_IDLE_SECONDS`` (600 s)."""

    async def chunks(self):
        queue = self.control.audio
        idle = getattr(settings, "MIC_IDLE_SECONDS", 600)
        stop = asyncio.ensure_future(self.control.stopped.wait())
        try:
            while True:
                get = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({get, stop}, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                yield get.result()
            # Audio that arrived before the stop is still the meeting's.
            while not queue.empty():
                item = queue.get_nowait()
                if item is not PAUSE:
                    yield item
        finally:
            stop.cancel()
