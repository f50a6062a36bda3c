"""Unsigned 64-bit identifiers (operation ids, method ids, schema hashes) and method ids."""

from __future__ import annotations

import unicodedata

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


# Combining diacritical blocks: marks there are not Unicode "Alphabetic", so Rust's
# ``char::is_alphanumeric`` (which heck splits on) treats them as separators; U+0345 is the exception.
_NON_ALPHABETIC_MARKS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))


def _is_alphanumeric(c: str) -> bool:
    """Rust's ``char::is_alphanumeric``: Unicode Alphabetic or Numeric (marks approximated by block)."""
    category = unicodedata.category(c)
    if category[0] in "LN":
        return True
    if category in ("Mn", "Mc"):
        code = ord(c)
        return code == 0x0345 or not any(lo <= code <= hi for lo, hi in _NON_ALPHABETIC_MARKS)
    return False


def _lower_word(word: str) -> str:
    """heck's ``lowercase``: per character, with a final capital sigma as the final form."""
    out = [c.lower() for c in word]
    if word.endswith("Σ"):
        out[-1] = "ς"
    return "".join(out)


def _words(name: str) -> list[str]:
    """heck 0.5's word boundaries (``transform`` in its ``src/lib.rs``).

    Words are the runs of alphanumeric characters; inside one, a boundary falls after a lowercase
    (or uncased, following lowercase) character followed by an uppercase one, and before the last
    of several uppercase characters when a lowercase one follows (``XMLHttp`` -> ``XML``, ``Http``).
    Digits and other uncased characters never start a word: ``HTTP2API`` is one word.
    """
    words: list[str] = []
    for run in "".join(c if _is_alphanumeric(c) else " " for c in name).split(" "):
        init, mode = 0, ""  # mode: "" (boundary), "lower" or "upper": the last cased character's case
        for i, c in enumerate(run):
            if i + 1 == len(run):
                words.append(run[init:])
                break
            nxt = run[i + 1]
            next_mode = "lower" if c.islower() else "upper" if c.isupper() else mode
            if next_mode == "lower" and nxt.isupper():
                words.append(run[init : i + 1])
                init, mode = i + 1, ""
            elif mode == "upper" and c.isupper() and nxt.islower():
                words.append(run[init:i])
                init, mode = i, ""
            else:
                mode = next_mode
    return [w for w in words if w]


def kebab(name: str) -> str:
    """heck's ``to_kebab_case``, as vox applies it to service and method names.

    ``MyService``, ``my_service``, ``MY_SERVICE`` and ``my-service`` all give ``my-service``;
    punctuation separates words and is dropped (``"This is Human case."`` -> ``this-is-human-case``).
    """
    return "-".join(_lower_word(w) for w in _words(name))


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
