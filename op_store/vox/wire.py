"""Postcard primitives: varints, zigzag, strings, floats — the readers both decoders share.

Every reader is ``read(buf, pos) -> (value, new_pos)`` over ``bytes`` and raises only
:class:`~.errors.DecodeError` subclasses, with ``offset`` at the start of the item it could not read.
Varints are LEB128 as postcard writes them; a reader accepts at most as many bytes as its width needs
(u16: 3, u32: 5, u64: 10, u128: 19) and refuses a final byte carrying bits beyond the width. It
accepts non-minimal encodings within that length (trailing 0x80 groups), as Rust postcard does.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Any

from .errors import (
    InvalidBoolError,
    InvalidTagError,
    InvalidUtf8Error,
    InvalidValueError,
    LengthError,
    OutOfRangeError,
    OverlongVarintError,
    UnexpectedEndError,
)

Reader = Callable[[bytes, int], tuple[Any, int]]

#: How many elements of zero-sized types (``list[None]``...) one decode may produce. Such elements take
#: no input bytes, so the input length cannot bound their count; this does, so that a 10-byte input
#: cannot make decode build a list of 2**64 ``None``.
ZST_BUDGET = 1 << 16

_state = threading.local()


def reset_budget() -> None:
    """Called once per top-level decode."""
    _state.zst = ZST_BUDGET


def check_count(buf: bytes, pos: int, start: int, count: int, min_size: int) -> None:
    """Refuse a count whose elements cannot fit in the rest of the input, before allocating."""
    if min_size:
        if count * min_size > len(buf) - pos:
            raise LengthError(start, f"count {count} needs at least {count * min_size} bytes, {len(buf) - pos} left")
        return
    left = getattr(_state, "zst", ZST_BUDGET) - count
    if left < 0:
        raise LengthError(start, f"count {count} of zero-sized elements exceeds the budget of {ZST_BUDGET}")
    _state.zst = left


# --- writers -----------------------------------------------------------------------------------


def write_varint(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def zigzag(v: int) -> int:
    return v << 1 if v >= 0 else ((-v) << 1) - 1


def unzigzag(z: int) -> int:
    return (z >> 1) ^ -(z & 1)


# --- readers -----------------------------------------------------------------------------------


def make_varint_reader(bits: int) -> Reader:
    """A reader of an unsigned LEB128 varint of ``bits`` width (16, 32, 64 or 128)."""
    max_len = (bits + 6) // 7
    last_shift = 7 * (max_len - 1)
    last_max = (1 << (bits - last_shift)) - 1  # the largest final byte that still fits

    def read(buf: bytes, pos: int) -> tuple[int, int]:
        start = pos
        try:
            b = buf[pos]
            if b < 0x80:
                return b, pos + 1
            result = b & 0x7F
            shift = 7
            pos += 1
            while True:
                b = buf[pos]
                pos += 1
                if shift == last_shift:
                    if b > last_max:
                        if b & 0x80:
                            raise OverlongVarintError(
                                start, f"varint longer than {max_len} bytes for a {bits}-bit value"
                            )
                        raise OutOfRangeError(start, f"varint value exceeds {bits} bits")
                    return result | (b << shift), pos
                result |= (b & 0x7F) << shift
                if b < 0x80:
                    return result, pos
                shift += 7
        except IndexError:
            raise UnexpectedEndError(start, "input ends inside a varint") from None

    return read


read_u16 = make_varint_reader(16)
read_u32 = make_varint_reader(32)
read_u64 = make_varint_reader(64)
read_u128 = make_varint_reader(128)
read_len = read_u64  # usize on the wire is a u64 varint


def make_zigzag_reader(bits: int) -> Reader:
    inner = make_varint_reader(bits)

    def read(buf: bytes, pos: int) -> tuple[int, int]:
        z, pos = inner(buf, pos)
        return (z >> 1) ^ -(z & 1), pos

    return read


read_i16 = make_zigzag_reader(16)
read_i32 = make_zigzag_reader(32)
read_i64 = make_zigzag_reader(64)
read_i128 = make_zigzag_reader(128)


def read_u8(buf: bytes, pos: int) -> tuple[int, int]:
    try:
        return buf[pos], pos + 1
    except IndexError:
        raise UnexpectedEndError(pos, "input ends before a u8") from None


def read_i8(buf: bytes, pos: int) -> tuple[int, int]:
    try:
        b = buf[pos]
    except IndexError:
        raise UnexpectedEndError(pos, "input ends before an i8") from None
    return (b - 256 if b >= 128 else b), pos + 1


def read_bool(buf: bytes, pos: int) -> tuple[bool, int]:
    try:
        b = buf[pos]
    except IndexError:
        raise UnexpectedEndError(pos, "input ends before a bool") from None
    if b == 1:
        return True, pos + 1
    if b == 0:
        return False, pos + 1
    raise InvalidBoolError(pos, f"bool byte must be 0 or 1, got {b}")


def read_option_tag(buf: bytes, pos: int) -> tuple[bool, int]:
    """True for Some (1), False for None (0)."""
    try:
        b = buf[pos]
    except IndexError:
        raise UnexpectedEndError(pos, "input ends before an option tag") from None
    if b == 1:
        return True, pos + 1
    if b == 0:
        return False, pos + 1
    raise InvalidTagError(pos, f"option tag must be 0 or 1, got {b}")


_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


def read_f32(buf: bytes, pos: int) -> tuple[float, int]:
    if len(buf) - pos < 4:
        raise UnexpectedEndError(pos, "input ends inside an f32")
    return _F32.unpack_from(buf, pos)[0], pos + 4


def read_f64(buf: bytes, pos: int) -> tuple[float, int]:
    if len(buf) - pos < 8:
        raise UnexpectedEndError(pos, "input ends inside an f64")
    return _F64.unpack_from(buf, pos)[0], pos + 8


def read_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    start = pos
    n, pos = read_len(buf, pos)
    end = pos + n
    if end > len(buf):
        raise LengthError(start, f"length {n} exceeds the {len(buf) - pos} bytes left")
    return buf[pos:end], end


def read_str(buf: bytes, pos: int) -> tuple[str, int]:
    start = pos
    n, pos = read_len(buf, pos)
    end = pos + n
    if end > len(buf):
        raise LengthError(start, f"length {n} exceeds the {len(buf) - pos} bytes left")
    try:
        return buf[pos:end].decode("utf-8"), end
    except UnicodeDecodeError as exc:
        raise InvalidUtf8Error(pos + exc.start, f"invalid UTF-8: {exc.reason}") from None


def read_char(buf: bytes, pos: int) -> tuple[str, int]:
    start = pos
    s, end = read_str(buf, pos)
    if len(s) != 1:
        raise InvalidValueError(start, f"a char is one code point, got {len(s)}")
    return s, end


def read_payload(buf: bytes, pos: int) -> tuple[bytes, int]:
    if len(buf) - pos < 4:
        raise UnexpectedEndError(pos, "input ends inside a payload length")
    n = int.from_bytes(buf[pos : pos + 4], "little")
    if n > len(buf) - pos - 4:
        raise LengthError(pos, f"payload length {n} exceeds the {len(buf) - pos - 4} bytes left")
    return buf[pos + 4 : pos + 4 + n], pos + 4 + n
