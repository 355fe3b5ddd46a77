"""TensorBoard event files: TFRecord framing, then Event -> Summary -> Value protobufs.

PyTorch's SummaryWriter (and Lightning, HF Trainer through it) writes scalars as `simple_value`;
TF2's `tf.summary.scalar` writes a 0-d `tensor` whose tag carries `scalars` plugin metadata in its
first event only. Both are read. Record layout: uint64 length, uint32 masked CRC32C of the length,
data, uint32 masked CRC32C of the data. The length CRC is checked (it is what tells an event file
from other binary data); the data CRC is not, since pure-Python CRC over megabytes would cost
seconds: a damaged payload fails protobuf decoding instead and is skipped with a warning.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from probes.history._protobuf import (
    BYTES,
    FIXED32,
    FIXED64,
    VARINT,
    DecodeError,
    fields,
    masked_crc32c,
    read_varint,
)

_HEADER = struct.Struct("<QI")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
# TensorFlow DataType enum values that hold one number per element
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_BFLOAT16, _DT_HALF = 1, 2, 3, 9, 14, 19
_SCALAR_PLUGINS = {"scalars", ""}


def looks_like_tfrecord(head: bytes) -> bool:
    if len(head) < 12:
        return False
    length, crc = _HEADER.unpack_from(head, 0)
    return masked_crc32c(head[:8]) == crc and length < 1 << 40


@dataclass
class EventScalars:
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # tag -> (step, value)
    records: int = 0
    skipped: int = 0
    truncated: bool = False
    corrupt_at: int | None = None
    plugins: dict[str, str] = field(default_factory=dict)


def read_scalars(buf: bytes) -> EventScalars:
    out = EventScalars()
    pos, end = 0, len(buf)
    header_ok: dict[bytes, int] = {}  # record lengths repeat: check each distinct header's CRC once
    while pos < end:
        if pos + 12 > end:
            out.truncated = True
            break
        length, crc = _HEADER.unpack_from(buf, pos)
        head = buf[pos : pos + 8]
        expected = header_ok.get(head)
        if expected is None:
            expected = header_ok[head] = masked_crc32c(head)
        if expected != crc:
            out.corrupt_at = pos
            break
        start, stop = pos + 12, pos + 12 + length
        if stop + 4 > end:
            out.truncated = True
            break
        try:
            _event(buf, start, stop, out)
        except (DecodeError, IndexError, struct.error):
            out.skipped += 1
        out.records += 1
        pos = stop + 4
    return out


def _next_field(buf: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """One field at `pos`: (number, wire type, start, stop); a varint's value is returned as `start`.
    Written out by hand (no generator): this runs for every field of every event."""
    key = buf[pos]
    pos += 1
    if key & 0x80:
        key, pos = read_varint(buf, pos - 1, end)
    wire = key & 7
    if wire == VARINT:
        value = buf[pos]
        if value < 0x80:
            return key >> 3, wire, value, pos + 1
        value, pos = read_varint(buf, pos, end)
        return key >> 3, wire, value, pos
    if wire == BYTES:
        size = buf[pos]
        pos += 1
        if size & 0x80:
            size, pos = read_varint(buf, pos - 1, end)
        if pos + size > end:
            raise DecodeError("length-delimited field runs past its message")
        return key >> 3, wire, pos, pos + size
    if wire == FIXED64:
        return key >> 3, wire, pos, pos + 8
    if wire == FIXED32:
        return key >> 3, wire, pos, pos + 4
    raise DecodeError(f"unsupported wire type {wire}")


def _event(buf: bytes, pos: int, end: int, out: EventScalars) -> None:
    step = 0.0
    summary_start = summary_end = -1
    while pos < end:
        number, wire, a, b = _next_field(buf, pos, end)
        pos = b
        if number == 2 and wire == VARINT:
            step = float(a - (1 << 64) if a >= 1 << 63 else a)
        elif number == 5 and wire == BYTES:
            summary_start, summary_end = a, b
    pos = summary_start
    while 0 <= pos < summary_end:
        number, wire, a, b = _next_field(buf, pos, summary_end)
        pos = b
        if number == 1 and wire == BYTES:
            _value(buf, a, b, step, out)


def _value(buf: bytes, pos: int, end: int, step: float, out: EventScalars) -> None:
    tag = ""
    simple: float | None = None
    tensor: tuple[int, int] | None = None
    metadata: tuple[int, int] | None = None
    while pos < end:
        number, wire, a, b = _next_field(buf, pos, end)
        pos = b
        if number == 1 and wire == BYTES:
            tag = buf[a:b].decode("utf-8", "replace")
        elif number == 2 and wire == FIXED32:
            simple = _F32.unpack_from(buf, a)[0]
        elif number == 8 and wire == BYTES:
            tensor = (a, b)
        elif number == 9 and wire == BYTES:
            metadata = (a, b)
    if pos != end:
        raise DecodeError("field runs past its message")
    if not tag:
        return
    if metadata is not None and tag not in out.plugins:
        # TF2 writes the plugin metadata with the first value of a tag only
        out.plugins[tag] = _plugin_name(buf, *metadata)
    if simple is None and tensor is not None:
        if out.plugins.get(tag, "") not in _SCALAR_PLUGINS:
            return
        simple = _scalar_tensor(buf, *tensor)
    if simple is not None:
        points = out.points.get(tag)
        if points is None:
            points = out.points[tag] = []
        points.append((step, simple))


def _plugin_name(buf: bytes, pos: int, end: int) -> str:
    for number, wire, a, b in fields(buf, pos, end):
        if number == 1 and wire == BYTES:  # plugin_data
            for n2, w2, a2, b2 in fields(buf, a, b):
                if n2 == 1 and w2 == BYTES:
                    return buf[a2:b2].decode("utf-8", "replace")
    return ""


def _scalar_tensor(buf: bytes, pos: int, end: int) -> float | None:
    """The one number in a 0-d (or one-element) numeric TensorProto, else None."""
    dtype = 0
    values: list[float] = []
    content = b""
    for number, wire, a, b in fields(buf, pos, end):
        if number == 1 and wire == VARINT:
            dtype = a
        elif number == 4 and wire == BYTES:
            content = buf[a:b]
        elif number == 5:  # float_val, packed or not
            values += _floats(buf, wire, a, b, _F32, 4)
        elif number == 6:  # double_val
            values += _floats(buf, wire, a, b, _F64, 8)
        elif number in (7, 10, 13, 16) and wire == VARINT:  # int_val, int64_val, half_val, bfloat16
            values.append(_from_bits(dtype, a))
        elif number in (7, 10, 13, 16) and wire == BYTES:  # packed ints
            p = a
            while p < b:
                v, p = read_varint(buf, p, b)
                values.append(_from_bits(dtype, v))
    if content:
        return _from_content(dtype, content)
    return values[0] if len(values) == 1 else None


def _floats(buf: bytes, wire: int, a: int, b: int, fmt: struct.Struct, size: int) -> list[float]:
    if wire == BYTES:
        return [fmt.unpack_from(buf, p)[0] for p in range(a, b, size)]
    if wire in (FIXED32, FIXED64):
        return [fmt.unpack_from(buf, a)[0]]
    return []


def _from_bits(dtype: int, raw: int) -> float:
    if dtype == _DT_HALF:
        return struct.unpack("<e", (raw & 0xFFFF).to_bytes(2, "little"))[0]
    if dtype == _DT_BFLOAT16:
        return struct.unpack("<f", ((raw & 0xFFFF) << 16).to_bytes(4, "little"))[0]
    return float(raw - (1 << 64) if raw >= 1 << 63 else raw)


def _from_content(dtype: int, content: bytes) -> float | None:
    formats = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q", _DT_HALF: "<e"}
    if dtype == _DT_BFLOAT16 and len(content) == 2:
        return struct.unpack("<f", b"\x00\x00" + content)[0]
    fmt = formats.get(dtype)
    if fmt is None or struct.calcsize(fmt) != len(content):
        return None
    return float(struct.unpack(fmt, content)[0])
