"""The built-in RTMP ingest: ffmpeg publishes a real recording, Parley hears it; a wrong key is refused."""
import asyncio

import pytest

from streaming.audio import SAMPLE_RATE
from streaming.sources.base import PAUSE
from streaming.zoom.rtmp import IngestError, RtmpIngest, new_stream_key, parse_rtmp_url
from tests.net import free_port


async def publish(path, url, seconds):
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "quiet", "-i", str(path), "-t", str(seconds), "-c:a", "aac",
        "-f", "flv", url)
    return await process.wait()


async def listening(port):
    """Wait until the listener accepts connections (this probe is refused as a publisher; it listens again)."""
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await asyncio.sleep(0.2)
        return
    raise TimeoutError(f"nothing listens on {port}")


async def collect(ingest, stopped, until_pauses):
    audio, pauses = bytearray(), 0
    async for chunk in ingest.pcm(stopped):
        if chunk is PAUSE:
            pauses += 1
            if pauses == until_pauses:
                stopped.set()
        else:
            audio += chunk
    return bytes(audio), pauses


async def test_a_publisher_with_the_key_is_heard_and_one_without_it_is_refused(data_dir):
    port, key = free_port(), new_stream_key()
    ingest = RtmpIngest(key, host="127.0.0.1", port=port, idle_seconds=5)
    stopped = asyncio.Event()
    heard = asyncio.create_task(collect(ingest, stopped, until_pauses=1))
    await listening(port)
    flac = data_dir / "audio" / "beckett.flac"
    # A guessed key gets nothing in: FFmpeg's own check, enforced.
    await publish(flac, f"rtmp://127.0.0.1:{port}/live/{new_stream_key()}", 2)
    await listening(port)
    assert await publish(flac, f"rtmp://127.0.0.1:{port}/live/{key}", 3) == 0
    audio, pauses = await asyncio.wait_for(heard, 30)
    assert ingest.refused == 1 and ingest.publishers == 1
    seconds = len(audio) / 2 / SAMPLE_RATE
    assert 2.8 <= seconds <= 3.2  # AAC priming and padding: a few frames either way
    assert max(abs(int.from_bytes(audio[i:i + 2], "little", signed=True)) for i in range(0, len(audio), 2)) > 3000


async def test_a_stop_ends_a_listener_no_one_published_to():
    ingest = RtmpIngest(new_stream_key(), host="127.0.0.1", port=free_port())
    stopped = asyncio.Event()
    port = ingest.port
    heard = asyncio.create_task(collect(ingest, stopped, until_pauses=99))
    await listening(port)
    stopped.set()
    assert await asyncio.wait_for(heard, 10) == (b"", 0)


async def test_a_port_in_use_is_said_in_words():
    port = free_port()
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        with pytest.raises(IngestError, match=f"cannot listen on 127.0.0.1:{port}"):
            await asyncio.wait_for(collect(RtmpIngest("k", host="127.0.0.1", port=port), asyncio.Event(), 1), 10)
    finally:
        server.close()


def test_symbl_stream_urls_split_into_server_and_key():
    assert parse_rtmp_url("rtmps://host:443/live/abc123") == ("rtmps://host:443/live", "abc123")
    with pytest.raises(ValueError):
        parse_rtmp_url("https://host/live/abc")
    with pytest.raises(ValueError):
        parse_rtmp_url("rtmp://host/abc")
