"""``typing.Annotated`` markers that name vox primitives Python has no type for.

Python has one ``int``, one ``float`` and one ``str``; vox has ten integer widths, two float widths and
``char``. Annotate a field with ``U8``, ``I32``, ``F32``, ``Char``... to pick the vox primitive; type
checkers still see the plain Python type (``U8`` is ``int`` to mypy). Unmarked Python types map as
``bool``->bool, ``int``->i64, ``float``->f64, ``str``->string, ``bytes``->bytes, ``None``->unit,
``typing.Never``->never.

``Payload`` is opaque, already-encoded bytes framed by a u32 little-endian length (vox's
``Payload``); ``Bytes`` is an ordinary byte string framed by a varint length.

``fixed_array(T, n)`` is a vox ``Array`` (n elements, no length on the wire); it decodes to a tuple.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any

from .schema import PrimitiveType


@dataclass(frozen=True, slots=True)
class VoxPrimitive:
    """``Annotated`` metadata selecting a vox primitive for the annotated Python type."""

    primitive: PrimitiveType

    def __repr__(self) -> str:
        return f"VoxPrimitive({self.primitive.value})"


@dataclass(frozen=True, slots=True)
class ArrayLength:
    """``Annotated`` metadata turning ``tuple[T, ...]`` (or ``list[T]``) into a fixed-length vox Array."""

    length: int

    def __post_init__(self) -> None:
        if isinstance(self.length, bool) or not isinstance(self.length, int) or not 0 <= self.length < 2**64:
            raise TypeError(f"array length must be an int in 0..2**64-1, got {self.length!r}")


Bool = Annotated[bool, VoxPrimitive(PrimitiveType.BOOL)]
U8 = Annotated[int, VoxPrimitive(PrimitiveType.U8)]
U16 = Annotated[int, VoxPrimitive(PrimitiveType.U16)]
U32 = Annotated[int, VoxPrimitive(PrimitiveType.U32)]
U64 = Annotated[int, VoxPrimitive(PrimitiveType.U64)]
U128 = Annotated[int, VoxPrimitive(PrimitiveType.U128)]
I8 = Annotated[int, VoxPrimitive(PrimitiveType.I8)]
I16 = Annotated[int, VoxPrimitive(PrimitiveType.I16)]
I32 = Annotated[int, VoxPrimitive(PrimitiveType.I32)]
I64 = Annotated[int, VoxPrimitive(PrimitiveType.I64)]
I128 = Annotated[int, VoxPrimitive(PrimitiveType.I128)]
F32 = Annotated[float, VoxPrimitive(PrimitiveType.F32)]
F64 = Annotated[float, VoxPrimitive(PrimitiveType.F64)]
Char = Annotated[str, VoxPrimitive(PrimitiveType.CHAR)]
String = Annotated[str, VoxPrimitive(PrimitiveType.STRING)]
Bytes = Annotated[bytes, VoxPrimitive(PrimitiveType.BYTES)]
Unit = Annotated[None, VoxPrimitive(PrimitiveType.UNIT)]
Never = Annotated[typing.Never, VoxPrimitive(PrimitiveType.NEVER)]
Payload = Annotated[bytes, VoxPrimitive(PrimitiveType.PAYLOAD)]

#: The Python type each primitive accepts as the base of its ``Annotated`` marker.
PYTHON_BASE: dict[PrimitiveType, tuple[Any, ...]] = {
    PrimitiveType.BOOL: (bool,),
    **{p: (int,) for p in PrimitiveType if p.value[0] in "ui" and p.value[1:].isdigit()},
    PrimitiveType.F32: (float,),
    PrimitiveType.F64: (float,),
    PrimitiveType.CHAR: (str,),
    PrimitiveType.STRING: (str,),
    PrimitiveType.BYTES: (bytes,),
    PrimitiveType.PAYLOAD: (bytes,),
    PrimitiveType.UNIT: (type(None),),
    PrimitiveType.NEVER: (typing.Never, typing.NoReturn),
}


def fixed_array(element: Any, length: int) -> Any:
    """``Annotated[tuple[element, ...], ArrayLength(length)]``: a vox Array of exactly ``length`` items."""
    return Annotated[tuple[element, ...], ArrayLength(length)]
