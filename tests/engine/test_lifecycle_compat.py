"""op_store._compat against the installed Django and DRF: each private API still means what we rely on."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.handlers.base import BaseHandler
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from rest_framework.request import Request

from op_store import _compat

rf = RequestFactory()


def view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok")


def test_request_body_internals() -> None:
    request = rf.post("/", b"abc", content_type="application/octet-stream")
    assert _compat.loaded_body(request) is None and not _compat.body_read_started(request)
    assert request.body == b"abc"
    assert _compat.loaded_body(request) == b"abc" and _compat.body_read_started(request)


def test_a_replaced_stream_is_read_from_its_start() -> None:
    request = rf.post("/", b"old", content_type="application/octet-stream")
    assert request.read() == b"old" and _compat.body_read_started(request)
    _compat.replace_body_stream(request, io.BytesIO(b"new body"))
    assert not _compat.body_read_started(request)
    assert request.read() == b"new body"


def test_form_parsed() -> None:
    request = rf.post("/", {"a": "1"})
    assert not _compat.form_parsed(request)
    assert request.POST["a"] == "1"
    assert _compat.form_parsed(request)


def test_drf_request_unwrapping() -> None:
    django_request = rf.post("/")
    drf_request = Request(django_request)
    assert _compat.is_drf_request(drf_request) and not _compat.is_drf_request(django_request)
    assert _compat.django_request(drf_request) is django_request
    assert _compat.django_request(django_request) is django_request


@pytest.mark.django_db
def test_open_atomic_blocks() -> None:
    before = len(_compat.open_atomic_blocks("default"))
    with transaction.atomic():
        assert len(_compat.open_atomic_blocks("default")) == before + 1
    assert len(_compat.open_atomic_blocks("default")) == before


def test_declared_non_atomic_aliases() -> None:
    assert _compat.non_atomic_requests(view) == set()
    assert _compat.non_atomic_requests(transaction.non_atomic_requests(using="other")(view)) == {"other"}


def test_opting_out_stops_django_opening_atomic_requests(atomic_requests: Any) -> None:
    def plain(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def opted_out(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    _compat.opt_out_of_atomic_requests(opted_out, {"other"})
    handler = BaseHandler()
    assert handler.make_view_atomic(plain) is not plain  # Django wraps it in ATOMIC_REQUESTS
    assert handler.make_view_atomic(opted_out) is opted_out
    assert _compat.opted_out_of_atomic_requests(opted_out) and not _compat.opted_out_of_atomic_requests(plain)
    assert _compat.non_atomic_requests(opted_out) == {"other"}  # still only the aliases really declared
