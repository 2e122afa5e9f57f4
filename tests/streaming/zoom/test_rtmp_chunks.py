"""RTMP's chunk stream and AMF0, on what FFmpeg really sent (tests/data/rtmp) and on chunks written
out by hand from Adobe's RTMP specification 1.0 §5.3."""
import struct

import pytest

from streaming.rtmp import amf0
from streaming.rtmp.chunks import (AUDIO, COMMAND_AMF0, DATA_AMF0, HANDSHAKE_SIZE, SET_CHUNK_SIZE, ChunkParser,
                                   ChunkWriter, Message, ProtocolError, server_handshake)
from streaming.rtmp.flv import AacDecoder, FlvAudioError

KEY = "parley-recorded-example-key-0001"


@pytest.fixture
def capture(data_dir):
    return (data_dir / "rtmp" / "ffmpeg_publish.bin").read_bytes()


def chunk_stream(capture):
    return capture[1 + 2 * HANDSHAKE_SIZE:]


def test_ffmpegs_publish_parses_into_its_commands_and_audio(capture):
    messages = ChunkParser().feed(chunk_stream(capture))
    commands = [amf0.decode(m.payload) for m in messages if m.type_id == COMMAND_AMF0]
    assert [c[0] for c in commands] == ["connect", "releaseStream", "FCPublish", "createStream", "publish",
                                        "FCUnpublish", "deleteStream"]
    # connect (140 bytes) came at the default 128-byte chunk size: a fmt 3 chunk continued it.
    connect = commands[0]
    assert connect[1] == 1.0 and connect[2]["app"] == "live" and connect[2]["tcUrl"].endswith("/live")
    assert commands[4][3:] == [KEY, "live"]
    # FFmpeg raised its chunk size to 4096 right after connect; what follows was read at that size.
    assert [(m.type_id, m.payload) for m in messages[1:2]] == [(SET_CHUNK_SIZE, struct.pack(">I", 4096))]
    assert DATA_AMF0 in [m.type_id for m in messages]
    audio = [m for m in messages if m.type_id == AUDIO]
    assert len(audio) == 18 and all(m.stream_id == 1 for m in audio)
    # The AAC AudioSpecificConfig first (AACPacketType 0), then raw frames 64 ms apart (1024 samples at 16 kHz).
    assert audio[0].payload[:2] == b"\xaf\x00" and all(m.payload[:2] == b"\xaf\x01" for m in audio[1:])
    assert [m.timestamp for m in audio[1:]] == list(range(0, 1025, 64))


def test_any_split_of_the_bytes_gives_the_same_messages(capture):
    whole = ChunkParser().feed(chunk_stream(capture))
    parser, one_by_one = ChunkParser(), []
    for byte in chunk_stream(capture):
        one_by_one += parser.feed(bytes([byte]))
    assert one_by_one == whole
    assert parser.chunk_size == 4096


def test_ffmpegs_audio_decodes_to_the_second_it_published(capture, data_dir):
    decoder, pcm = AacDecoder(), b""
    for message in ChunkParser().feed(chunk_stream(capture)):
        if message.type_id == AUDIO:
            pcm += decoder.feed(message.payload)
    pcm += decoder.flush()
    # One second, give or take AAC's priming and padding frames (64 ms each).
    assert 0.9 <= len(pcm) / 32000 <= 1.2
    assert max(abs(s) for (s,) in struct.iter_unpack("<h", pcm)) > 3000


def test_the_handshake_echoes_c1_and_refuses_other_versions(capture):
    c0c1 = capture[:1 + HANDSHAKE_SIZE]
    answer = server_handshake(c0c1)
    assert len(answer) == 1 + 2 * HANDSHAKE_SIZE and answer[0] == 3
    assert answer[1 + HANDSHAKE_SIZE:] == c0c1[1:]  # S2 is C1
    with pytest.raises(ProtocolError, match="version 6"):
        server_handshake(b"\x06" + c0c1[1:])


def basic(fmt, csid):
    return bytes([fmt << 6 | csid])


def test_chunks_written_by_the_spec():
    command = amf0.encode("connect", 1, {"app": "live", "tcUrl": "rtmp://example/live", "pad": "x" * 500})
    assert 400 < len(command) <= 600
    data = (
        # Set Chunk Size 200 (fmt 0, chunk stream 2, message stream 0).
        basic(0, 2) + (0).to_bytes(3, "big") + (4).to_bytes(3, "big") + bytes([1]) + struct.pack("<I", 0)
        + struct.pack(">I", 200)
        # The command at 200-byte chunks: a fmt 0 chunk, then fmt 3 continuations.
        + basic(0, 3) + (0).to_bytes(3, "big") + len(command).to_bytes(3, "big") + bytes([20]) + struct.pack("<I", 0)
        + command[:200] + basic(3, 3) + command[200:400] + basic(3, 3) + command[400:]
        # Audio on chunk stream 4: fmt 0 at 1000 ms, fmt 1 (+23 ms, new length), fmt 2 (+21 ms), fmt 3 (+21 again).
        + basic(0, 4) + (1000).to_bytes(3, "big") + (3).to_bytes(3, "big") + bytes([8]) + struct.pack("<I", 1) + b"ab0"
        + basic(1, 4) + (23).to_bytes(3, "big") + (2).to_bytes(3, "big") + bytes([8]) + b"b1"
        + basic(2, 4) + (21).to_bytes(3, "big") + b"c2"
        + basic(3, 4) + b"d3"
        # An extended timestamp (past 0xFFFFFF ms, ~4.6 h) on a 2-byte chunk stream id (70 = 64 + 6),
        # over two chunks: the fmt 3 continuation repeats the extended timestamp.
        + bytes([0 << 6 | 0, 6]) + b"\xff\xff\xff" + (250).to_bytes(3, "big") + bytes([8]) + struct.pack("<I", 1)
        + struct.pack(">I", 0x01020304) + b"e" * 200
        + bytes([3 << 6 | 0, 6]) + struct.pack(">I", 0x01020304) + b"f" * 50
    )
    parser = ChunkParser()
    messages = parser.feed(data)
    assert parser.chunk_size == 200
    assert messages[1] == Message(COMMAND_AMF0, 0, 0, command, 3)
    assert amf0.decode(messages[1].payload)[2]["pad"] == "x" * 500
    assert [(m.timestamp, m.payload) for m in messages[2:6]] == [(1000, b"ab0"), (1023, b"b1"), (1044, b"c2"),
                                                                 (1065, b"d3")]
    assert messages[6] == Message(AUDIO, 1, 0x01020304, b"e" * 200 + b"f" * 50, 70)
    assert len(messages) == 7


@pytest.mark.parametrize("csid, stamp", [(3, 0), (5, 0xFFFFFE), (63, 0xFFFFFF), (64, 70_000_000), (319, 1), (320, 2),
                                         (65599, 3)])
def test_what_the_writer_splits_the_parser_joins(csid, stamp):
    message = Message(AUDIO, 1, stamp, bytes(range(256)) * 3, csid)
    writer = ChunkWriter(chunk_size=100)
    parser = ChunkParser()
    parser.chunk_size = 100
    assert parser.feed(writer.encode(message)) == [message]


def test_broken_chunk_streams_are_refused_in_words():
    with pytest.raises(ProtocolError, match="starts with a fmt 3 header"):
        ChunkParser().feed(basic(3, 5) + b"x")
    huge = basic(0, 3) + (0).to_bytes(3, "big") + (0xFFFFFF).to_bytes(3, "big") + bytes([8]) + bytes(4)
    with pytest.raises(ProtocolError, match="over the"):
        ChunkParser().feed(huge)


def test_amf0_round_trips_what_commands_carry():
    values = ["onStatus", 0.0, None, {"level": "error", "code": "NetStream.Publish.BadName", "nested": {"ok": True}},
              [1.0, "two"], "é" * 70_000]
    assert amf0.decode(amf0.encode(*values)) == values
    with pytest.raises(amf0.AmfError, match="cut short"):
        amf0.decode(amf0.encode("publish")[:-2])


def test_audio_that_is_not_aac_is_refused_in_words():
    decoder = AacDecoder()
    with pytest.raises(FlvAudioError, match="MP3, not AAC"):
        decoder.feed(b"\x2f\xff\xfb")
    with pytest.raises(FlvAudioError, match="before its AudioSpecificConfig"):
        decoder.feed(b"\xaf\x01\x21\x00")
