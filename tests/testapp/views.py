"""Views the lifecycle tests call: each bumps a Counter (or writes a Row) so side effects can be counted.

Replies carry a random ``nonce`` so a test can tell a replay (same nonce) from a second run.
``HOOKS[name]`` lets a test run code inside a view (e.g. take the operation over mid-view).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import F
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from op_store.decorators import exactly_once, exactly_once_exempt

from .models import Counter, Row

HOOKS: dict[str, Callable[[HttpRequest], None]] = {}


def bump(name: str) -> int:
    counter, _ = Counter.objects.get_or_create(name=name)
    Counter.objects.filter(pk=counter.pk).update(value=F("value") + 1)
    counter.refresh_from_db()
    return counter.value


def _hook(name: str, request: HttpRequest) -> None:
    hook = HOOKS.get(name)
    if hook is not None:
        hook(request)


def _pause(request: HttpRequest) -> None:
    """Sleep ``?sleep=`` seconds; with ``?marker=<file>`` only on the first run, and create the file.

    Live-server crash tests wait for the marker ("the view is running now"), kill the server, and
    retry the identical request, whose re-run then does not sleep again.
    """
    marker = request.GET.get("marker")
    if marker:
        if Path(marker).exists():
            return
        Path(marker).touch()
    time.sleep(float(request.GET.get("sleep", "0")))


def _reply(request: HttpRequest, name: str, count: int) -> HttpResponse:
    """A JSON reply with stored headers (Content-Type, Location), unstored ones, and a cookie."""
    status = int(request.GET.get("status", "201"))
    response = JsonResponse({"name": name, "count": count, "nonce": uuid.uuid4().hex}, status=status)
    response["Location"] = f"/things/{name}/"
    response["X-Not-Stored"] = "per-response"
    response.set_cookie("visited", "yes")
    return response


# --- function views ---------------------------------------------------------------------------


@exactly_once
def fn_view(request: HttpRequest, name: str) -> HttpResponse:
    count = bump(name)
    _hook(name, request)
    return _reply(request, name, count)


@exactly_once(required=True)
def required_view(request: HttpRequest, name: str) -> HttpResponse:
    return _reply(request, name, bump(name))


@csrf_exempt
@exactly_once(wait=10)
def waiting_view(request: HttpRequest, name: str) -> HttpResponse:
    return _slow(request, name)


def _slow(request: HttpRequest, name: str) -> HttpResponse:
    count = bump(name)
    _hook(name, request)
    _pause(request)
    return _reply(request, name, count)


# Live-server views are csrf_exempt: their clients (urllib) send a session cookie but no CSRF token.


@csrf_exempt
@exactly_once
def race_view(request: HttpRequest, name: str) -> HttpResponse:
    return _slow(request, name)


@csrf_exempt
@exactly_once(lease=1)
def slow_view(request: HttpRequest, name: str) -> HttpResponse:
    return _slow(request, name)


@csrf_exempt
@exactly_once(lease=1, stale="reexecute")
def slow_reexecute_view(request: HttpRequest, name: str) -> HttpResponse:
    return _slow(request, name)


@exactly_once(stale="reexecute", lease=0.2)
def reexecute_view(request: HttpRequest, name: str) -> HttpResponse:
    count = bump(name)
    _hook(name, request)
    return _reply(request, name, count)


@exactly_once(stale="reexecute_if_transactional", lease=0.2)
def reexecute_if_tx_view(request: HttpRequest, name: str) -> HttpResponse:
    count = bump(name)
    _hook(name, request)
    return _reply(request, name, count)


@exactly_once(seal={200, 201, 500})
def seal_500_view(request: HttpRequest, name: str) -> HttpResponse:
    return _reply(request, name, bump(name))


@exactly_once
def raising_view(request: HttpRequest, name: str) -> HttpResponse:
    bump(name)
    raise RuntimeError("the view failed")


@exactly_once
def streaming_view(request: HttpRequest, name: str) -> StreamingHttpResponse:
    bump(name)
    return StreamingHttpResponse(iter([b"chunk-1,", b"chunk-2"]), content_type="text/plain")


@exactly_once
def file_view(request: HttpRequest, name: str) -> FileResponse:
    import io

    bump(name)
    return FileResponse(io.BytesIO(b"file contents"), filename="f.txt")


@exactly_once
def big_view(request: HttpRequest, name: str) -> HttpResponse:
    bump(name)
    return HttpResponse(b"x" * int(request.GET.get("size", "100")), content_type="application/octet-stream")


@exactly_once
def form_view(request: HttpRequest, name: str) -> HttpResponse:
    """Reads request.POST / request.FILES after the fingerprint read the body."""
    bump(name)
    files = {key: b"".join(f.read() for f in request.FILES.getlist(key)).decode() for key in request.FILES}
    return JsonResponse({"post": request.POST.dict(), "files": files, "nonce": uuid.uuid4().hex}, status=201)


@exactly_once(fingerprint="op_store.lifecycle.fingerprints.streamed_fingerprint")
def raw_upload_view(request: HttpRequest, name: str) -> HttpResponse:
    """Streams a raw body with request.read() in chunks."""
    bump(name)
    size = 0
    while chunk := request.read(4096):
        size += len(chunk)
    return JsonResponse({"size": size, "nonce": uuid.uuid4().hex}, status=201)


@exactly_once
def plain_fn_view(request: HttpRequest, name: str) -> HttpResponse:
    return _reply(request, name, bump(name))


# --- async function views --------------------------------------------------------------------


@exactly_once
async def async_fn_view(request: HttpRequest, name: str) -> HttpResponse:
    count = await sync_to_async(bump)(name)
    return _reply(request, name, count)


@exactly_once
async def async_raising_view(request: HttpRequest, name: str) -> HttpResponse:
    await sync_to_async(bump)(name)
    raise RuntimeError("the async view failed")


@exactly_once(wait=5)
async def async_waiting_view(request: HttpRequest, name: str) -> HttpResponse:
    import asyncio

    count = await sync_to_async(bump)(name)
    await asyncio.sleep(float(request.GET.get("sleep", "0")))
    return _reply(request, name, count)


# --- class-based views -----------------------------------------------------------------------


@method_decorator(exactly_once, name="dispatch")
class CounterView(View):
    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        return _reply(request, name, bump(name))


@exactly_once(required=True)
class DecoratedClassView(View):
    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        return _reply(request, name, bump(name))


class MethodDecoratedView(View):
    @exactly_once
    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        return _reply(request, name, bump(name))


@method_decorator(exactly_once, name="dispatch")
class AsyncCounterView(View):
    async def post(self, request: HttpRequest, name: str) -> HttpResponse:
        return _reply(request, name, await sync_to_async(bump)(name))


# --- DRF views -------------------------------------------------------------------------------


class AmountSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)


@exactly_once
@api_view(["POST"])
def drf_fn_view(request: Request, name: str) -> Response:
    count = bump(name)
    return Response({"name": name, "count": count, "nonce": uuid.uuid4().hex, "data": request.data}, status=201)


class DrfHandlerView(APIView):
    """The decorator on the handler method: DRF authentication, DRF's error responses sealed."""

    @exactly_once
    def post(self, request: Request, name: str) -> Response:
        count = bump(name)
        serializer = AmountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"name": name, "count": count, "nonce": uuid.uuid4().hex, "user": str(request.user)}, 201)


@method_decorator(exactly_once, name="dispatch")
class DrfDispatchView(APIView):
    def post(self, request: Request, name: str) -> Response:
        return Response({"name": name, "count": bump(name), "nonce": uuid.uuid4().hex}, status=201)


# --- transactional views ---------------------------------------------------------------------


def _write_row(request: HttpRequest, name: str) -> HttpResponse:
    _hook(f"{name}:before", request)
    Row.objects.create(key=name)
    count = bump(name)
    _hook(name, request)
    if request.GET.get("fail"):
        raise RuntimeError("failed after writing")
    _pause(request)
    status = int(request.GET.get("status", "201"))
    return JsonResponse({"name": name, "count": count, "nonce": uuid.uuid4().hex}, status=status)


@exactly_once(atomic=True)
def tx_view(request: HttpRequest, name: str) -> HttpResponse:
    return _write_row(request, name)


@csrf_exempt
@exactly_once(atomic=True, stale="reexecute_if_transactional", lease=1)
def tx_reexecute_view(request: HttpRequest, name: str) -> HttpResponse:
    return _write_row(request, name)


@exactly_once
def maybe_atomic_view(request: HttpRequest, name: str) -> HttpResponse:
    """Transactional only when ATOMIC_REQUESTS is on."""
    return _write_row(request, name)


@exactly_once
@transaction.non_atomic_requests
def non_atomic_view(request: HttpRequest, name: str) -> HttpResponse:
    return _write_row(request, name)


# --- undecorated views (for the middleware) --------------------------------------------------


def undecorated_view(request: HttpRequest, name: str) -> HttpResponse:
    count = bump(name)
    _hook(name, request)
    return _reply(request, name, count)


async def async_undecorated_view(request: HttpRequest, name: str) -> HttpResponse:
    return _reply(request, name, await sync_to_async(bump)(name))


@csrf_exempt
@exactly_once_exempt
def exempt_view(request: HttpRequest, name: str) -> HttpResponse:
    return _reply(request, name, bump(name))


@exactly_once_exempt
async def async_exempt_view(request: HttpRequest, name: str) -> HttpResponse:
    return _reply(request, name, await sync_to_async(bump)(name))


@exactly_once_exempt
@method_decorator(csrf_exempt, name="dispatch")
class ExemptView(View):
    def post(self, request: HttpRequest, name: str) -> HttpResponse:
        return _reply(request, name, bump(name))


def undecorated_row_view(request: HttpRequest, name: str) -> HttpResponse:
    return _write_row(request, name)


def echo_state(request: HttpRequest) -> HttpResponse:
    """Not a lifecycle view: reports counters and rows (for live-server tests)."""
    data: dict[str, Any] = {
        "counters": {c.name: c.value for c in Counter.objects.all()},
        "rows": list(Row.objects.values_list("key", flat=True)),
    }
    return HttpResponse(json.dumps(data), content_type="application/json")
