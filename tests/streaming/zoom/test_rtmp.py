"""The built-in RTMP ingest: ffmpeg publishes real recordings to one port, each stream key's audio
reaches its own meeting's session group as 100 ms of PCM at a time; a wrong key is refused and
changes nothing; a publisher that drops, or goes silent, is followed by a pause and heard again."""
import asyncio
import logging
import os
import struct
import sys

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from meetings.models import Meeting
from streaming import control as session_control
from streaming.audio import load_float, pcm_to_float
from streaming.models import ZoomStream
from streaming.rtmp import amf0
from streaming.rtmp.chunks import (ACKNOWLEDGEMENT, AUDIO, COMMAND_AMF0, HANDSHAKE_SIZE, ChunkParser, ChunkWriter,
                                   Message, window_ack_size)
from streaming.rtmp.server import RtmpServer
from streaming.sources.base import PAUSE
from streaming.zoom.rtmp import CHUNK_BYTES, IngestError, ensure_ingest, open_publication, parse_rtmp_url
from streaming.zoom.sessions import start_zoom
from tests.net import free_port
from tests.streaming.zoom.conftest import publish

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def local_stream(owner, workspace, zoom_meeting_id="85746065432"):
    """A Zoom session on the local engine with no Zoom account: the key is for the user to enter in Zoom."""
    return start_zoom(owner, workspace, zoom_meeting_id=zoom_meeting_id, engine="local",
                      page_url=lambda meeting: "https://parley.test/")


async def heard(control, pauses=1, timeout=30):
    """What reached the session's runner, until ``pauses`` pauses: a list of PCM chunks and PAUSE."""
    items = []
    while items.count(PAUSE) < pauses:
        items.append(await asyncio.wait_for(control.audio.get(), timeout))
    return items


def follows(pcm, path, start_s=0.0):
    """How closely ``pcm`` follows the recording at ``path`` from ``start_s``: the best normalized
    correlation of its first 2 s over lags up to ±0.25 s (AAC's encoder delay shifts it a little)."""
    got = pcm_to_float(pcm)[:32000]
    ref = load_float(path)
    lag_max = 4000
    begin = int(start_s * 16000)
    ref = np.concatenate([np.zeros(lag_max, np.float32), ref[begin:begin + len(got) + lag_max]])
    size = 1 << (len(ref) + len(got)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(got, size)), size)[:len(ref) - len(got) + 1]
    energy = np.convolve(ref ** 2, np.ones(len(got), np.float32), "valid")
    return float(np.max(corr / np.sqrt(np.maximum(energy, 1e-9) * np.dot(got, got))))


def audio_of(items):
    return b"".join(item for item in items if item is not PAUSE)


async def test_a_publisher_is_heard_in_the_meeting_its_key_belongs_to(alice, workspace, ingest, data_dir):
    stream = await local_stream(alice, workspace)
    await ensure_ingest()
    beckett = data_dir / "audio" / "beckett.flac"
    async with session_control.SessionControl(stream.meeting_id) as control:
        assert (await publish(beckett, ingest, stream.stream_key, seconds=3))[0] == 0
        items = await heard(control)
    assert items[-1] is PAUSE and PAUSE not in items[:-1]
    chunks = items[:-1]
    assert {len(chunk) for chunk in chunks[:-1]} == {CHUNK_BYTES} and 0 < len(chunks[-1]) <= CHUNK_BYTES
    assert 2.8 <= len(audio_of(items)) / 32000 <= 3.3  # AAC priming and padding: a few frames either way
    assert follows(audio_of(items), beckett) > 0.9


async def test_two_publishers_on_one_port_each_reach_their_own_meeting(alice, workspace, ingest, data_dir):
    first = await local_stream(alice, workspace)
    second = await local_stream(alice, workspace, zoom_meeting_id="91234567890")
    await ensure_ingest()
    # A second runner process serving the same port (SO_REUSEPORT): connections land in either.
    other_process = await RtmpServer(open_publication, host="127.0.0.1", port=ingest).start()
    beckett, two_cities = data_dir / "audio" / "beckett.flac", data_dir / "audio" / "two_cities.flac"
    try:
        async with session_control.SessionControl(first.meeting_id) as one, \
                session_control.SessionControl(second.meeting_id) as two:
            results = await asyncio.gather(publish(beckett, ingest, first.stream_key, seconds=4),
                                           publish(two_cities, ingest, second.stream_key, seconds=4),
                                           heard(one), heard(two))
    finally:
        await other_process.close()
    assert [code for code, _ in results[:2]] == [0, 0]
    one_pcm, two_pcm = audio_of(results[2]), audio_of(results[3])
    assert follows(one_pcm, beckett) > 0.9 and follows(two_pcm, two_cities) > 0.9
    assert follows(one_pcm, two_cities) < 0.5 and follows(two_pcm, beckett) < 0.5


@pytest.mark.skipif(not django_settings.REDIS_URL, reason="two processes share a channel layer only through Redis")
async def test_a_publisher_landing_in_another_runner_process_reaches_the_meeting(alice, workspace, ingest, settings,
                                                                                 data_dir):
    """Production: the ingest in another process (a second ``run_sessions``) takes the publisher,
    checks the key in PostgreSQL and hands the audio to this process's session over Redis."""
    stream = await local_stream(alice, workspace)
    database = settings.DATABASES["default"]
    user = database["USER"] + (f":{database['PASSWORD']}" if database.get("PASSWORD") else "")
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL,
           "DATABASE_URL": f"postgres://{user}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"}
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.streaming.zoom.other_process", str(ingest),
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"], env=env, stdout=asyncio.subprocess.PIPE)
    try:
        assert await asyncio.wait_for(other.stdout.readline(), 30) == b"listening\n"
        beckett = data_dir / "audio" / "beckett.flac"
        # This process serves no ingest: only the other process can have taken the publisher.
        async with session_control.SessionControl(stream.meeting_id) as control:
            assert (await publish(beckett, ingest, stream.stream_key, seconds=3))[0] == 0
            items = await heard(control)
        assert follows(audio_of(items), beckett) > 0.9
    finally:
        other.terminate()
        await other.wait()


async def test_a_wrong_key_is_refused_and_changes_nothing(alice, workspace, ingest, data_dir, caplog):
    stream = await local_stream(alice, workspace)
    ended = await local_stream(alice, workspace, zoom_meeting_id="91234567890")
    await database_sync_to_async(Meeting.objects.filter(pk=ended.meeting_id).update)(status=Meeting.Status.COMPLETED)
    await ensure_ingest()
    beckett = data_dir / "audio" / "beckett.flac"
    guessed = stream.stream_key[:-1] + ("A" if stream.stream_key[-1] != "A" else "B")
    async with session_control.SessionControl(stream.meeting_id) as control, \
            session_control.SessionControl(ended.meeting_id) as ended_control:
        with caplog.at_level(logging.WARNING, logger="streaming.zoom.rtmp"):
            for key in (guessed, ended.stream_key, ""):
                code, said = await publish(beckett, ingest, key, seconds=2)
                assert code != 0 and "No active stream has this stream key" in said
        await asyncio.sleep(0.3)
        assert control.audio.empty() and ended_control.audio.empty()
    refusals = [r.getMessage() for r in caplog.records if "refused a publisher" in r.getMessage()]
    assert len(refusals) == 3
    assert not any(key in message for key in (guessed, ended.stream_key) for message in refusals)
    fresh = await database_sync_to_async(ZoomStream.objects.get)(pk=stream.pk)
    assert (fresh.state, fresh.live_at) == (stream.state, None)
    assert (await database_sync_to_async(Meeting.objects.get)(pk=stream.meeting_id)).status == Meeting.Status.SCHEDULED


async def test_a_publisher_that_drops_and_comes_back_is_heard_again(alice, workspace, ingest, data_dir):
    stream = await local_stream(alice, workspace)
    await ensure_ingest()
    beckett = data_dir / "audio" / "beckett.flac"
    async with session_control.SessionControl(stream.meeting_id) as control:
        assert (await publish(beckett, ingest, stream.stream_key, seconds=2.5))[0] == 0
        before = await heard(control)
        assert (await publish(beckett, ingest, stream.stream_key, start=4, seconds=2.5))[0] == 0
        after = await heard(control)
    assert follows(audio_of(before), beckett) > 0.9
    assert follows(audio_of(after), beckett, start_s=4) > 0.9


async def test_a_publisher_silent_for_the_idle_timeout_is_gone(alice, workspace, ingest, settings, data_dir):
    """A hand-written publisher (this module's chunk writer and AMF0) that stops sending, as a
    frozen Zoom would: after ZOOM_RTMP_IDLE_SECONDS the session hears a pause and the socket closes."""
    settings.ZOOM_RTMP_IDLE_SECONDS = 1
    stream = await local_stream(alice, workspace)
    await ensure_ingest()
    recorded = (data_dir / "rtmp" / "ffmpeg_publish.bin").read_bytes()
    ffmpegs = ChunkParser().feed(recorded[1 + 2 * HANDSHAKE_SIZE:])
    aac = [m.payload for m in ffmpegs if m.type_id == AUDIO][:8]  # its AudioSpecificConfig and 7 frames
    reader, writer = await asyncio.open_connection("127.0.0.1", ingest)
    chunks, answers = ChunkWriter(), ChunkParser()

    written = 0

    def put(data):
        nonlocal written
        written += len(data)
        writer.write(data)

    async def command(*values, stream_id=0):
        put(chunks.encode(Message(COMMAND_AMF0, stream_id, 0, amf0.encode(*values), csid=3)))
        await writer.drain()

    seen = []

    async def answer(name):
        while True:
            for message in answers.feed(await asyncio.wait_for(reader.read(4096), 5)):
                seen.append(message)
                if message.type_id == COMMAND_AMF0 and (values := amf0.decode(message.payload))[0] == name:
                    return values

    async with session_control.SessionControl(stream.meeting_id) as control:
        put(b"\x03" + bytes(HANDSHAKE_SIZE))
        s0s1s2 = await reader.readexactly(1 + 2 * HANDSHAKE_SIZE)
        put(s0s1s2[1:1 + HANDSHAKE_SIZE])
        # Ask for an Acknowledgement every 1,000 bytes (the ingest's own default window is 2.5 MB).
        put(chunks.encode(window_ack_size(1000)))
        await command("connect", 1, {"app": "live", "tcUrl": f"rtmp://127.0.0.1:{ingest}/live"})
        assert (await answer("_result"))[3]["code"] == "NetConnection.Connect.Success"
        await command("createStream", 2, None)
        stream_id = int((await answer("_result"))[3])
        await command("publish", 0, None, stream.stream_key, "live", stream_id=stream_id)
        assert (await answer("onStatus"))[3]["code"] == "NetStream.Publish.Start"
        for at, payload in enumerate(aac):
            put(chunks.encode(Message(AUDIO, stream_id, at * 64, payload, csid=4)))
        await writer.drain()
        items = await heard(control, timeout=5)
        seen += answers.feed(await asyncio.wait_for(reader.read(), 5))  # up to the ingest hanging up
    writer.close()
    assert items[-1] is PAUSE and len(audio_of(items)) > 0
    acknowledged = [struct.unpack(">I", m.payload)[0] for m in seen if m.type_id == ACKNOWLEDGEMENT]
    # Every byte counted (the handshake's too): never more than a window left unacknowledged.
    assert acknowledged and acknowledged == sorted(acknowledged)
    assert 0 <= written - acknowledged[-1] < 1000


async def test_a_publisher_to_another_app_is_refused(alice, workspace, ingest, data_dir, caplog):
    stream = await local_stream(alice, workspace)
    await ensure_ingest()
    with caplog.at_level(logging.WARNING, logger="streaming.rtmp.server"):
        code, _ = await publish(data_dir / "audio" / "beckett.flac", ingest, stream.stream_key, seconds=1, app="vod")
    assert code != 0 and "refused app 'vod'" in caplog.text


async def test_a_port_in_use_is_said_in_words(settings):
    port = free_port()
    settings.ZOOM_RTMP_BIND, settings.ZOOM_RTMP_PORT = "127.0.0.1", port
    # A program holding the port without SO_REUSEPORT: the ingest cannot share it.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        with pytest.raises(IngestError, match=f"cannot listen on 127.0.0.1:{port}"):
            await ensure_ingest()
    finally:
        server.close()


def test_symbl_stream_urls_split_into_server_and_key():
    assert parse_rtmp_url("rtmps://host:443/live/abc123") == ("rtmps://host:443/live", "abc123")
    with pytest.raises(ValueError):
        parse_rtmp_url("https://host/live/abc")
    with pytest.raises(ValueError):
        parse_rtmp_url("rtmp://host/abc")
