"""Unsigned 64-bit identifiers (operation ids, method ids, schema hashes) and method ids."""

from __future__ import annotations

import re

import blake3

U64_MAX = 2**64 - 1


def check_u64(value: object, what: str = "id") -> int:
    """Return ``value`` if it is an int in 0..2**64-1, else raise a clear error.

    ``bool`` is refused on purpose: ``True`` passing as id 1 hides bugs.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int in 0..2**64-1, got {type(value).__name__} {value!r}")
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"{what} must be in 0..2**64-1, got {value}")
    return value


def u64_to_i64(value: int) -> int:
    """Map a u64 onto a signed 64-bit integer by two's complement (for BIGINT columns)."""
    return value - 2**64 if value >= 2**63 else value


def i64_to_u64(value: int) -> int:
    """Inverse of :func:`u64_to_i64`."""
    return value + 2**64 if value < 0 else value


def hash64(data: bytes) -> int:
    """First 8 bytes, little-endian, of BLAKE3(data): how vox turns content into a u64 id."""
    return int.from_bytes(blake3.blake3(data).digest(length=8), "little")


_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def kebab(name: str) -> str:
    """``MyService``, ``my_service``, ``MY_SERVICE`` and ``my-service`` all give ``my-service``."""
    spaced = _WORD_BOUNDARY.sub("-", name.strip())
    return re.sub(r"[-_\s]+", "-", spaced).strip("-").lower()


def method_id(service: str, method: str) -> int:
    """The vox method id: BLAKE3 of ``kebab(service) + "." + kebab(method)``, first 8 bytes LE."""
    return hash64(f"{kebab(service)}.{kebab(method)}".encode())


def format_hash(value: int) -> str:
    """A schema hash as the 16 lowercase hex digits used in URLs and JSON."""
    return f"{check_u64(value, 'schema hash'):016x}"


def parse_hash(text: str) -> int:
    """Inverse of :func:`format_hash`; accepts an optional ``0x`` prefix."""
    digits = text[2:] if text[:2].lower() == "0x" else text
    if not 1 <= len(digits) <= 16 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"schema hash must be 1..16 hex digits, got {text!r}")
    return int(digits, 16)
