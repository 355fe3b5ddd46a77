"""Just enough protocol buffers to read TensorBoard scalars: varints, field walking, CRC32C.

TensorBoard's own reader needs the `tensorboard` package (and protobuf); the event format is small and
stable, so a few dozen lines of decoding keep `probes.history` free of both. Wire format:
https://protobuf.dev/programming-guides/encoding/ ; TFRecord framing uses masked CRC32C.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class DecodeError(ValueError):
    """The bytes are not the protobuf message we expected."""


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint longer than 10 bytes")
    raise DecodeError("truncated varint")


def fields(buf: bytes, pos: int = 0, end: int | None = None) -> Iterator[tuple[int, int, int, int]]:
    """Yield (field number, wire type, start, stop) for each field; for VARINT fields `start` is the
    decoded value and `stop` the position after it."""
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield number, wire, value, pos
        elif wire == FIXED64:
            if pos + 8 > end:
                raise DecodeError("truncated fixed64")
            yield number, wire, pos, pos + 8
            pos += 8
        elif wire == BYTES:
            size, pos = read_varint(buf, pos, end)
            if pos + size > end:
                raise DecodeError("length-delimited field runs past its message")
            yield number, wire, pos, pos + size
            pos += size
        elif wire == FIXED32:
            if pos + 4 > end:
                raise DecodeError("truncated fixed32")
            yield number, wire, pos, pos + 4
            pos += 4
        else:  # groups (3, 4) are not used by any TensorBoard message
            raise DecodeError(f"unsupported wire type {wire}")


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
