"""Reading the operation key of a request (HTTP view or RPC call): ``Idempotency-Key`` or ``Vox-Operation-Id``.

``Idempotency-Key`` is a client-chosen text of 1..255 visible ASCII characters, sent either bare
(``Idempotency-Key: 7f3c-...``, what most clients send) or as an RFC 8941 sf-string
(``Idempotency-Key: "7f3c-..."``, what the IETF draft specifies; inside quotes a space and the
escapes ``\\"`` and ``\\\\`` are allowed). Both spellings of one text are the same key.

The key's operation id is ``hash64(b"idempotency-key:" + key)`` (first 8 bytes, little-endian, of
BLAKE3; see :func:`operation_id_for_key`). The prefix keeps key-derived ids apart from ids that other
derivations may produce; a collision with a ``Vox-Operation-Id`` in the same scope needs 2**64 luck
or a client colliding with itself.

``Vox-Operation-Id`` is the vox client's own u64 operation id in decimal and is used as is.

Both headers name exactly one key. A server merges repeated header lines into one value joined by
commas (``A`` and ``B`` arrive as ``A,B``), so a bare key may not contain a comma: a merged value is
refused rather than taken for a third key. Every refusal is a :class:`MalformedKeyError` (400
``malformed-key``), whatever the client sent; see ``docs/problems.md#malformed-key``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.http import HttpRequest

from op_store import headers
from op_store.vox.ids import U64_MAX, hash64

IDEMPOTENCY_KEY_HEADER = headers.IDEMPOTENCY_KEY
OPERATION_ID_HEADER = headers.OPERATION_ID
MAX_KEY_LENGTH = 255
#: The longest ``Vox-Operation-Id`` read (2**64 - 1 has 20 digits); longer text never reaches ``int()``,
#: whose limit on digits (4300) would raise a ``ValueError`` that is not a :class:`MalformedKeyError`.
MAX_OPERATION_ID_DIGITS = 20
KEY_ID_PREFIX = b"idempotency-key:"
#: A bare key as most clients send it, checked in one match: visible ASCII without a comma, not
#: opening with a quote (that is an sf-string).
_PLAIN_KEY = re.compile(r"[\x21\x23-\x2b\x2d-\x7e][\x21-\x2b\x2d-\x7e]*")


class MalformedKeyError(ValueError):
    """The request carries a key header whose value is not a valid key; answered with 400."""


@dataclass(frozen=True, slots=True)
class OperationKey:
    """The operation a request names: its u64 id, and the client's key text (empty for vox ids)."""

    operation_id: int
    key: str
    header: str


def operation_id_for_key(key: str) -> int:
    """The u64 operation id of an Idempotency-Key text (documented, stable across versions)."""
    return hash64(KEY_ID_PREFIX + key.encode("ascii"))


def parse_idempotency_key(value: str) -> str:
    """The key text of an ``Idempotency-Key`` header value, or :class:`MalformedKeyError`."""
    value = value.strip(" \t")
    if len(value) <= MAX_KEY_LENGTH and _PLAIN_KEY.fullmatch(value) is not None:
        return value
    if value.startswith('"'):
        key = _parse_sf_string(value)
    else:
        if not value:
            raise MalformedKeyError("Idempotency-Key is empty; send 1 to 255 visible ASCII characters")
        bad = next((c for c in value if not "\x21" <= c <= "\x7e"), None)
        if bad is not None:
            raise MalformedKeyError(
                f"Idempotency-Key contains {bad!r}; a bare key may only hold visible ASCII characters "
                "(quote it as an RFC 8941 string to include spaces)"
            )
        if "," in value:
            raise MalformedKeyError(
                "Idempotency-Key holds a comma: send one key on one header line (two lines arrive joined "
                "by a comma); quote the key as an RFC 8941 string if the comma is part of it"
            )
        key = value
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise MalformedKeyError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters long, got {len(key)}")
    return key


def _parse_sf_string(value: str) -> str:
    """RFC 8941 section 4.2.5: a quoted string of printable ASCII with ``\\"`` and ``\\\\`` escapes."""
    out: list[str] = []
    i = 1
    while i < len(value):
        c = value[i]
        if c == "\\":
            if i + 1 >= len(value) or value[i + 1] not in '"\\':
                raise MalformedKeyError('Idempotency-Key: in a quoted key a backslash may only escape " or \\')
            out.append(value[i + 1])
            i += 2
            continue
        if c == '"':
            if i != len(value) - 1:
                raise MalformedKeyError("Idempotency-Key: text after the closing quote")
            return "".join(out)
        if not "\x20" <= c <= "\x7e":
            raise MalformedKeyError(f"Idempotency-Key contains {c!r}; only printable ASCII is allowed")
        out.append(c)
        i += 1
    raise MalformedKeyError("Idempotency-Key: quoted key without a closing quote")


def parse_operation_id(value: str) -> int:
    """The u64 of a ``Vox-Operation-Id`` header value (decimal digits), or :class:`MalformedKeyError`."""
    value = value.strip(" \t")
    if not value or not value.isascii() or not value.isdigit() or len(value) > MAX_OPERATION_ID_DIGITS:
        shown = value if len(value) <= 40 else f"{value[:20]}... ({len(value)} characters)"
        raise MalformedKeyError(
            f"Vox-Operation-Id must be a decimal integer in 0..{U64_MAX} (at most "
            f"{MAX_OPERATION_ID_DIGITS} ASCII digits), got {shown!r}"
        )
    number = int(value)
    if number > U64_MAX:
        raise MalformedKeyError(f"Vox-Operation-Id must be at most {U64_MAX} (an unsigned 64-bit id), got {value}")
    return number


def key_from_request(request: HttpRequest) -> OperationKey | None:
    """The request's operation key, None when it sends neither header.

    Sending both headers is refused: the two could name different operations.
    """
    meta = request.META
    idem = meta.get(headers.META_IDEMPOTENCY_KEY)
    vox = meta.get(headers.META_OPERATION_ID)
    if idem is None and vox is None:
        return None
    if idem is not None and vox is not None:
        raise MalformedKeyError(f"send either {IDEMPOTENCY_KEY_HEADER} or {OPERATION_ID_HEADER}, not both")
    if idem is not None:
        key = parse_idempotency_key(idem)
        return OperationKey(operation_id_for_key(key), key, IDEMPOTENCY_KEY_HEADER)
    assert vox is not None
    return OperationKey(parse_operation_id(vox), "", OPERATION_ID_HEADER)


def has_key(request: HttpRequest) -> bool:
    """Whether the request sends a key header at all (valid or not); cheap, for the middleware."""
    meta = request.META
    return headers.META_IDEMPOTENCY_KEY in meta or headers.META_OPERATION_ID in meta
