"""RTMP's handshake and chunk stream, both directions, without I/O.

Adobe's RTMP specification 1.0 (https://rtmp.veriskope.com/docs/spec/), §5.2 and §5.3:

* **Handshake.** The client sends C0 (the version, 3) and C1 (1536 bytes: time u32, zero u32,
  1528 random bytes); the server answers S0, S1 (its own 1536 bytes) and S2 (C1 echoed), then reads
  C2 (S1 echoed). Nothing in C2 is checked: a publisher that got this far speaks RTMP.
* **Chunks.** A message (type id, length, timestamp in ms, message stream id) travels in chunks of
  at most the sender's chunk size (128 bytes until a Set Chunk Size). Each chunk starts with a
  basic header (fmt: 2 bits, chunk stream id: 6 bits, or 1–2 more bytes for ids 64–65599) and a
  message header whose size depends on fmt: 0 → 11 bytes (absolute timestamp, length, type id,
  stream id little-endian), 1 → 7 (timestamp delta, length, type id), 2 → 3 (timestamp delta),
  3 → none (the same as the chunk stream's previous message; a continuation of a message in
  progress). A timestamp field of 0xFFFFFF means a 4-byte extended timestamp follows, and a fmt 3
  chunk of such a chunk stream repeats it (what FFmpeg and Flash send).

Integers are big-endian except the fmt 0 message stream id.
"""
import os
import struct
from dataclasses import dataclass

VERSION = 3
HANDSHAKE_SIZE = 1536
DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 0x7FFFFFFF
# A message longer than this is refused rather than buffered (the length field allows 16 MiB;
# an audio frame is a few hundred bytes, a video key frame a few hundred KiB).
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
EXTENDED = 0xFFFFFF

# Message type ids (§5.4, §7.1).
SET_CHUNK_SIZE, ABORT, ACKNOWLEDGEMENT, USER_CONTROL = 1, 2, 3, 4
WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 5, 6
AUDIO, VIDEO, DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0 = 8, 9, 15, 17, 18, 20
# User Control event types (§7.1.7).
STREAM_BEGIN, STREAM_EOF = 0, 1

_FMT0, _FMT1, _FMT2 = 11, 7, 3  # message header sizes


class ProtocolError(ValueError):
    """The peer broke the RTMP protocol; the message says how."""


@dataclass
class Message:
    """One RTMP message: ``type_id`` (see the constants), ``stream_id`` (message stream id),
    ``timestamp`` (ms, 32 bits), ``payload`` (bytes), ``csid`` (the chunk stream it came on)."""

    type_id: int
    stream_id: int
    timestamp: int
    payload: bytes
    csid: int = 3


def server_handshake(c0c1):
    """S0+S1+S2 (3073 bytes) answering C0+C1 (1537 bytes). Raises :class:`ProtocolError` for a
    version other than 3 (an RTMPE or HTTP client on the wrong port)."""
    if len(c0c1) != 1 + HANDSHAKE_SIZE:
        raise ProtocolError(f"the handshake needs {1 + HANDSHAKE_SIZE} bytes of C0+C1, got {len(c0c1)}")
    if c0c1[0] != VERSION:
        raise ProtocolError(f"RTMP version {c0c1[0]} requested; only version 3 (plain RTMP) is served")
    # S1's zero field (bytes 4–8) says "simple handshake" to clients that could do the digest one.
    s1 = bytes(8) + os.urandom(HANDSHAKE_SIZE - 8)
    return bytes([VERSION]) + s1 + c0c1[1:]


@dataclass
class _ChunkStream:
    """What a chunk stream remembers from its previous header, for the shorter ones after it."""

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    partial: bytearray | None = None  # the message in progress


class ChunkParser:
    """Reassembles messages from received bytes: ``feed(data)`` returns the messages completed by
    ``data`` (any split of the stream gives the same messages). Applies Set Chunk Size and Abort
    itself, as they change how the next bytes are read, and also returns them.
    Raises :class:`ProtocolError`; after one the connection is unusable."""

    def __init__(self):
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self._buffer = bytearray()
        self._streams = {}

    def feed(self, data):
        self._buffer += data
        messages = []
        while (message := self._chunk()) is not False:
            if message is not None:
                messages.append(message)
        return messages

    def _chunk(self):
        """Parse one chunk off the buffer: its completed message, None, or False if incomplete."""
        buf = self._buffer
        if not buf:
            return False
        fmt, csid, at = buf[0] >> 6, buf[0] & 0x3F, 1
        if csid in (0, 1):
            width = 1 if csid == 0 else 2
            if len(buf) < 1 + width:
                return False
            csid = 64 + buf[1] + (buf[2] * 256 if width == 2 else 0)
            at += width
        header = (_FMT0, _FMT1, _FMT2, 0)[fmt]
        if len(buf) < at + header:
            return False
        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                raise ProtocolError(f"chunk stream {csid} starts with a fmt {fmt} header, not fmt 0")
            stream = self._streams[csid] = _ChunkStream()
        fields = buf[at:at + header]
        at += header
        stamp = int.from_bytes(fields[0:3], "big") if fmt < 3 else None
        extended = stamp == EXTENDED if fmt < 3 else stream.extended
        if extended:
            if len(buf) < at + 4:
                return False
            ext = int.from_bytes(buf[at:at + 4], "big")
            at += 4
            if fmt < 3:
                stamp = ext
        starting = stream.partial is None
        if fmt < 3 and not starting:
            raise ProtocolError(f"chunk stream {csid}: a new message header before the last message ended")
        length, type_id = stream.length, stream.type_id
        if fmt <= 1:
            length, type_id = int.from_bytes(fields[3:6], "big"), fields[6]
        if length > MAX_MESSAGE_SIZE:
            raise ProtocolError(f"a message of {length} bytes is over the {MAX_MESSAGE_SIZE}-byte limit")
        received = 0 if starting else len(stream.partial)
        size = min(self.chunk_size, length - received)
        if len(buf) < at + size:
            return False
        # The whole chunk is here: commit the header to the chunk stream.
        if fmt == 0:
            stream.timestamp, stream.delta = stamp, 0
            stream.stream_id = int.from_bytes(fields[7:11], "little")
        elif fmt in (1, 2):
            stream.delta = stamp
            stream.timestamp = (stream.timestamp + stamp) & 0xFFFFFFFF
        elif starting:
            # fmt 3 opening a new message: the previous delta again (§5.3.1.2.4).
            stream.timestamp = (stream.timestamp + stream.delta) & 0xFFFFFFFF
        stream.length, stream.type_id, stream.extended = length, type_id, extended
        if starting:
            stream.partial = bytearray()
        stream.partial += buf[at:at + size]
        del buf[:at + size]
        if len(stream.partial) < length:
            return None
        message = Message(type_id, stream.stream_id, stream.timestamp, bytes(stream.partial), csid)
        stream.partial = None
        self._control(message)
        return message

    def _control(self, message):
        if message.type_id == SET_CHUNK_SIZE:
            size = _u32(message) & 0x7FFFFFFF  # the top bit must be 0
            if size < 1:
                raise ProtocolError("Set Chunk Size to 0")
            self.chunk_size = size
        elif message.type_id == ABORT:
            stream = self._streams.get(_u32(message))
            if stream is not None:
                stream.partial = None


def _u32(message):
    if len(message.payload) < 4:
        raise ProtocolError(f"message type {message.type_id} needs 4 bytes, got {len(message.payload)}")
    return int.from_bytes(message.payload[:4], "big")


class ChunkWriter:
    """Splits outgoing messages into chunks: a fmt 0 chunk, then fmt 3 continuations of at most
    ``chunk_size`` bytes. ``encode(message)`` returns the bytes to send."""

    def __init__(self, chunk_size=DEFAULT_CHUNK_SIZE):
        self.chunk_size = chunk_size

    def encode(self, message):
        basic0, basic3 = _basic_header(0, message.csid), _basic_header(3, message.csid)
        stamp = message.timestamp & 0xFFFFFFFF
        extended = stamp >= EXTENDED
        header = (min(stamp, EXTENDED).to_bytes(3, "big") + len(message.payload).to_bytes(3, "big")
                  + bytes([message.type_id]) + struct.pack("<I", message.stream_id))
        ext = struct.pack(">I", stamp) if extended else b""
        out = bytearray(basic0 + header + ext)
        payload = message.payload
        for start in range(0, max(len(payload), 1), self.chunk_size):
            if start:
                out += basic3 + ext
            out += payload[start:start + self.chunk_size]
        return bytes(out)


def _basic_header(fmt, csid):
    if 2 <= csid <= 63:
        return bytes([fmt << 6 | csid])
    if 64 <= csid <= 319:
        return bytes([fmt << 6, csid - 64])
    if 64 <= csid <= 65599:
        return bytes([fmt << 6 | 1]) + struct.pack("<H", csid - 64)
    raise ValueError(f"chunk stream id {csid} is outside 2–65599")


def control(type_id, payload):
    """A protocol control message (chunk stream 2, message stream 0, §5.4)."""
    return Message(type_id, 0, 0, payload, csid=2)


def set_chunk_size(size):
    return control(SET_CHUNK_SIZE, struct.pack(">I", size))


def window_ack_size(size):
    return control(WINDOW_ACK_SIZE, struct.pack(">I", size))


def set_peer_bandwidth(size, limit_type=2):
    """``limit_type``: 0 hard, 1 soft, 2 dynamic (§5.4.5)."""
    return control(SET_PEER_BANDWIDTH, struct.pack(">IB", size, limit_type))


def acknowledgement(received):
    """Bytes received so far (the sequence number wraps at 2**32, §5.4.3)."""
    return control(ACKNOWLEDGEMENT, struct.pack(">I", received & 0xFFFFFFFF))


def user_control(event, stream_id):
    return control(USER_CONTROL, struct.pack(">HI", event, stream_id))
