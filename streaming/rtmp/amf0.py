"""AMF0, the encoding of RTMP's command and data messages.

Adobe's Action Message Format AMF0 specification
(https://rtmp.veriskope.com/pdf/amf0-file-format-specification.pdf): a value is a one-byte type
marker followed by its body, big-endian. Numbers are IEEE-754 doubles, strings carry a u16 length
(long strings a u32), an object is a run of ``(u16-length name, value)`` pairs ended by an empty
name and the object-end marker ``0x09``; an ECMA array is an object preceded by a u32 count.

Decoded values: ``float``, ``bool``, ``str``, ``dict`` (objects and ECMA arrays), ``list``
(strict arrays), ``None`` (null and undefined), ``float`` (a date: ms since the epoch).
"""
import struct

NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED, REFERENCE = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07
ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE, LONG_STRING = 0x08, 0x09, 0x0A, 0x0B, 0x0C


class AmfError(ValueError):
    """Bytes that are not AMF0 (or use a type RTMP commands never carry); the message says where."""


def encode(*values):
    """The AMF0 bytes of ``values`` in order (None encodes as null). Raises TypeError for a value
    of another type."""
    return b"".join(_encode(value) for value in values)


def _encode(value):
    if value is None:
        return bytes([NULL])
    if isinstance(value, bool):
        return bytes([BOOLEAN, value])
    if isinstance(value, (int, float)):
        return struct.pack(">Bd", NUMBER, value)
    if isinstance(value, str):
        data = value.encode()
        if len(data) > 0xFFFF:
            return struct.pack(">BI", LONG_STRING, len(data)) + data
        return struct.pack(">BH", STRING, len(data)) + data
    if isinstance(value, dict):
        return bytes([OBJECT]) + _pairs(value)
    if isinstance(value, (list, tuple)):
        return struct.pack(">BI", STRICT_ARRAY, len(value)) + encode(*value)
    raise TypeError(f"AMF0 cannot encode a {type(value).__name__}")


def _pairs(mapping):
    out = bytearray()
    for name, value in mapping.items():
        key = str(name).encode()
        out += struct.pack(">H", len(key)) + key + _encode(value)
    return bytes(out) + b"\x00\x00" + bytes([OBJECT_END])


def decode(data):
    """Every AMF0 value in ``data`` (bytes), as a list. Raises :class:`AmfError`."""
    values, at = [], 0
    while at < len(data):
        value, at = _decode(data, at)
        values.append(value)
    return values


def _take(data, at, size):
    if at + size > len(data):
        raise AmfError(f"AMF0 value cut short at byte {at} (needs {size} more)")
    return data[at:at + size], at + size


def _string(data, at, width):
    raw, at = _take(data, at, width)
    size = int.from_bytes(raw, "big")
    raw, at = _take(data, at, size)
    try:
        return raw.decode(), at
    except UnicodeDecodeError:
        raise AmfError(f"AMF0 string at byte {at - size} is not UTF-8") from None


def _decode(data, at):
    marker, at = _take(data, at, 1)
    marker = marker[0]
    if marker == NUMBER:
        raw, at = _take(data, at, 8)
        return struct.unpack(">d", raw)[0], at
    if marker == BOOLEAN:
        raw, at = _take(data, at, 1)
        return raw[0] != 0, at
    if marker == STRING:
        return _string(data, at, 2)
    if marker == LONG_STRING:
        return _string(data, at, 4)
    if marker in (NULL, UNDEFINED):
        return None, at
    if marker == OBJECT:
        return _decode_pairs(data, at)
    if marker == ECMA_ARRAY:
        _, at = _take(data, at, 4)  # the count is a hint: the pairs end with the object-end marker
        return _decode_pairs(data, at)
    if marker == STRICT_ARRAY:
        raw, at = _take(data, at, 4)
        items = []
        for _ in range(int.from_bytes(raw, "big")):
            item, at = _decode(data, at)
            items.append(item)
        return items, at
    if marker == DATE:
        raw, at = _take(data, at, 10)  # a double (ms) and a reserved s16 time zone
        return struct.unpack(">d", raw[:8])[0], at
    raise AmfError(f"unsupported AMF0 type marker 0x{marker:02x} at byte {at - 1}")


def _decode_pairs(data, at):
    result = {}
    while True:
        name, at = _string(data, at, 2)
        if not name and at < len(data) and data[at] == OBJECT_END:
            return result, at + 1
        result[name], at = _decode(data, at)
