"""The errors of the vox codec.

Decoding raises only :class:`DecodeError` subclasses, whatever the input bytes, so a caller that
replays or inspects stored bytes needs one ``except`` clause. Every one carries ``offset``: the byte
offset in the input where the offending item starts (for invalid UTF-8: the first bad byte; for
trailing bytes: the first byte after the value; for truncation: where the incomplete item starts).

Encoding raises :class:`EncodeError` for values that do not fit their annotation. It subclasses both
``TypeError`` and ``ValueError`` on purpose: "a str where bytes are due" is a type error and "300 as
u8" a value error, and callers may already catch either. A bad *annotation* (one vox cannot
describe) is a plain ``TypeError`` raised by ``schema_for``/``encode``/``decode`` alike.
"""

from __future__ import annotations

from .ids import format_hash


class DecodeError(ValueError):
    """Bytes that are not a valid postcard encoding of the expected type."""

    def __init__(self, offset: int, message: str = "") -> None:
        super().__init__(offset, message)
        self.offset = offset
        self.message = message or self.__class__.__doc__ or "invalid input"

    def __str__(self) -> str:
        return f"{self.message} (at byte {self.offset})"


class UnexpectedEndError(DecodeError):
    """The input ends in the middle of a value."""


TruncatedError = UnexpectedEndError


class TrailingBytesError(DecodeError):
    """Bytes are left over after the value."""


class LengthError(DecodeError):
    """A length or count prefix is larger than the rest of the input could hold."""


class VarintError(DecodeError):
    """A malformed LEB128 varint."""


class OverlongVarintError(VarintError):
    """A varint has more bytes than its type allows (u16: 3, u32: 5, u64: 10, u128: 19)."""


class OutOfRangeError(VarintError):
    """A varint's final byte carries bits beyond its type's width: the value does not fit."""


class InvalidUtf8Error(DecodeError):
    """A string (or char) is not valid UTF-8."""


class InvalidBoolError(DecodeError):
    """A bool byte is neither 0 nor 1."""


class InvalidTagError(DecodeError):
    """An option tag is neither 0 (None) nor 1 (Some)."""


class UnknownVariantError(DecodeError):
    """An enum variant index the enum does not have."""


class InvalidValueError(DecodeError):
    """A well-formed encoding of a value the type refuses (a char that is not one code point, a duplicate
    map key, an uninhabited type, a dataclass whose constructor rejects the fields)."""


class NestingError(DecodeError):
    """A recursive value is nested deeper than Python's recursion limit allows."""


class UnknownSchemaError(DecodeError):
    """A schema id the schema source does not have (``decode_ref``)."""

    def __init__(self, offset: int, schema_id: int) -> None:
        super().__init__(offset, f"schema {format_hash(schema_id)} is missing from the schema source")
        self.args = (offset, schema_id)  # so that pickling round-trips
        self.schema_id = schema_id


class InvalidSchemaError(DecodeError):
    """Schemas that cannot describe a value (unbound type variable, wrong number of type arguments)."""


class EncodeError(TypeError, ValueError):
    """A value that does not fit its annotation; ``path`` names where inside the value (outermost first)."""

    def __init__(self, message: str, path: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = path or []

    def at(self, segment: str) -> EncodeError:
        """Prepend ``segment`` to the path (called while the error propagates outwards)."""
        self.path.insert(0, segment)
        return self

    def __str__(self) -> str:
        if not self.path:
            return self.message
        where = "".join(s if s.startswith("[") else f".{s}" for s in self.path).lstrip(".")
        return f"{self.message} (at {where})"
