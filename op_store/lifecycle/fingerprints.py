"""Fingerprints: what makes two requests with one key "the same request".

A fingerprint function is ``callable(request) -> bytes``; a key reused with a different fingerprint
is answered 422 ``fingerprint-mismatch`` on every path (admission, replay, in flight). It runs
before the view, in a synchronous context, and may refuse a request by raising
:class:`~op_store.lifecycle.problems.ProblemError`.

:func:`default_fingerprint` is BLAKE3 over the method, the path, the query string and a BLAKE3
digest of the body. Reading the body is careful not to break the view (see :func:`body_digest`).
"""

from __future__ import annotations

import os
import tempfile

import blake3
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from op_store._compat import (
    body_read_started,
    body_stream,
    django_request,
    form_parsed,
    loaded_body,
    replace_body_stream,
)
from op_store.problems import REQUEST_TOO_LARGE, ProblemError

FINGERPRINT_VERSION = b"op-store-fingerprint-v1"
_CHUNK = 64 * 1024


def _frame(*parts: bytes) -> bytes:
    """Length-prefixed parts, so that ("ab", "c") and ("a", "bc") never give the same bytes."""
    return b"".join([len(p).to_bytes(4, "little") + p for p in parts])


def request_line(request: HttpRequest) -> bytes:
    """Method, path and raw query string, as canonical bytes."""
    request = django_request(request)
    return _frame(
        (request.method or "").encode("ascii", "replace"),
        request.path.encode("utf-8", "surrogateescape"),
        request.META.get("QUERY_STRING", "").encode("latin-1", "replace"),
    )


def default_fingerprint(request: HttpRequest) -> bytes:
    """BLAKE3(method, path, query string, BLAKE3(body)): 32 bytes."""
    return blake3.blake3(_frame(FINGERPRINT_VERSION, request_line(request), body_digest(request))).digest()


def streamed_fingerprint(request: HttpRequest) -> bytes:
    """Like :func:`default_fingerprint`, but never refuses a large body: it is spooled to disk.

    For views that stream large raw uploads (``request.read()`` in chunks), where the default would
    answer 413 to bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE``.
    """
    return blake3.blake3(
        _frame(FINGERPRINT_VERSION, request_line(request), body_digest(request, spool_any=True))
    ).digest()


def method_and_path(request: HttpRequest) -> bytes:
    """Method, path and query string only: the body is neither read nor compared."""
    return blake3.blake3(_frame(FINGERPRINT_VERSION, request_line(request))).digest()


def body_digest(request: HttpRequest, *, spool_any: bool = False) -> bytes:
    """BLAKE3 of the request body, read so that the view can still read it in every usual way.

    - A body within ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (or any body when that is None) is read through
      ``request.body``, which Django keeps, so ``request.POST``, ``request.FILES``, DRF's parsers and
      ``request.read()`` all work afterwards.
    - A larger ``multipart/form-data`` body (file uploads, which Django streams to upload handlers and
      does not cap) is hashed chunk by chunk while it is copied to a temporary file (in memory up to
      ``FILE_UPLOAD_MAX_MEMORY_SIZE``, then on disk), and the request reads from that copy afterwards;
      ASGI requests, already spooled by Django, are hashed in place and rewound.
    - Any other body over the limit is refused with 413 ``request-too-large``: Django itself refuses
      to load such a body into ``request.body``/``request.POST``. ``spool_any=True`` spools it instead.
    - A ``Content-Length`` that is not a byte count (text, a sign, more than 20 digits) is refused
      with 413 ``request-too-large`` too: Django's ``request.body`` would raise ``ValueError`` on it.
    """
    request = django_request(request)
    loaded = loaded_body(request)
    if loaded is not None:
        return blake3.blake3(loaded).digest()
    if body_read_started(request):
        return _parsed_form_digest(request)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    declared = _declared_length(request)
    if declared is None:
        # Django's request.body would raise ValueError (a 500) converting it; refuse it here instead.
        raise ProblemError(
            REQUEST_TOO_LARGE,
            "The request's Content-Length is not a byte count of at most 20 digits, so its body cannot be "
            "read. Send a valid Content-Length.",
        )
    if limit is None or (declared <= limit and not _seekable_larger_than(request, limit)):
        try:
            return blake3.blake3(request.body).digest()
        except RequestDataTooBig:
            pass  # Content-Length understated the body; fall through to the large-body rules
    multipart = request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/")
    if not (multipart or spool_any):
        raise ProblemError(
            REQUEST_TOO_LARGE,
            f"The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE ({limit} bytes), so it cannot be "
            "fingerprinted in memory. Send a smaller body.",
        )
    return _spooled_digest(request)


def _parsed_form_digest(request: HttpRequest) -> bytes:
    """The digest of a multipart body that was parsed before the fingerprint ran.

    Parsing ``request.POST`` of a multipart request consumes the stream (CSRF checks of DRF's session
    authentication do that before a decorated handler method runs), so the raw bytes are gone; the
    parsed fields and the files' names, types and contents stand in for them.
    """
    if not form_parsed(request):
        raise RuntimeError(
            "op_store: the request body was consumed before the fingerprint was taken, and not as a form; "
            "decorate the view itself (not a method that runs after the body was parsed) or pass a fingerprint "
            "that does not read the body"
        )
    hasher = blake3.blake3(b"parsed-form")
    for name, values in sorted(request.POST.lists()):
        hasher.update(_frame(name.encode(), *(str(v).encode() for v in values)))
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            hasher.update(_frame(name.encode(), (upload.name or "").encode(), (upload.content_type or "").encode()))
            for chunk in upload.chunks():
                hasher.update(chunk)
            upload.seek(0)
    return hasher.digest()


def _declared_length(request: HttpRequest) -> int | None:
    """The declared body length (0 when absent); None when ``Content-Length`` is not a byte count."""
    value = str(request.META.get("CONTENT_LENGTH") or "0").strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 20):
        return None
    return int(value)


def _seekable_larger_than(request: HttpRequest, limit: int) -> bool:
    stream = body_stream(request)
    if stream is None or not getattr(stream, "seekable", lambda: False)():
        return False
    position = stream.tell()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(position)
    return size - position > limit


def _spooled_digest(request: HttpRequest) -> bytes:
    """Hash the body without holding it in memory, leaving the request readable from the start."""
    stream = body_stream(request)
    if stream is None or body_read_started(request):
        raise RuntimeError("op_store: the request body was read before the fingerprint; cannot fingerprint it")
    hasher = blake3.blake3()
    if getattr(stream, "seekable", lambda: False)():
        start = stream.tell()
        while chunk := stream.read(_CHUNK):
            hasher.update(chunk)
        stream.seek(start)
        return hasher.digest()
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    while chunk := stream.read(_CHUNK):
        hasher.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    replace_body_stream(request, spool)
    return hasher.digest()
