"""A small DRF API using exactly-once every supported way, next to operations that do not use it."""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework import generics, serializers, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes, schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.schemas import DefaultSchema
from rest_framework.views import APIView, exception_handler

from op_store.decorators import exactly_once
from op_store.drf import ExactlyOnceMixin, ExactlyOnceProblem
from op_store.lifecycle.scopes import shared_scope

from .models import ApiToken, Note


class ApiTokenAuthentication(TokenAuthentication):
    model = ApiToken


AUTHENTICATION = [ApiTokenAuthentication, SessionAuthentication]

# ``@api_view`` picks its view's schema inspector from ``DEFAULT_SCHEMA_CLASS`` when it runs, and the
# test settings set drf-spectacular's only around the schema tests: ``@schema(DefaultSchema())`` makes
# the view look it up when the schema is generated, as every ``APIView`` does.


class NoteSerializer(serializers.ModelSerializer):
    nonce = serializers.SerializerMethodField()

    class Meta:
        model = Note
        fields = ["id", "text", "pinned", "nonce"]
        read_only_fields = ["id", "pinned"]

    def get_nonce(self, note: Note) -> str:
        """Differs on every run: a replay shows the first run's."""
        return uuid.uuid4().hex


class NoteViewSet(ExactlyOnceMixin, viewsets.ModelViewSet):
    """Notes: ``create``, ``update``, ``partial_update`` and ``destroy`` are exactly-once (the mixin)."""

    queryset = Note.objects.order_by("id")
    serializer_class = NoteSerializer
    authentication_classes = AUTHENTICATION
    permission_classes = [AllowAny]

    @action(detail=True, methods=["post"])
    @exactly_once(required=True, atomic=True, stale="reexecute")
    def pin(self, request: Request, pk: Any = None) -> Response:
        note = self.get_object()
        note.pinned = True
        note.save(update_fields=["pinned"])
        return Response(NoteSerializer(note).data)

    @action(detail=True, methods=["post"])
    def touch(self, request: Request, pk: Any = None) -> Response:
        """Not exactly-once."""
        return Response(NoteSerializer(self.get_object()).data)


class RequiredNoteCreateView(ExactlyOnceMixin, generics.CreateAPIView):
    """A generic view: the mixin wraps ``create``, which ``post`` calls; here a key is required."""

    serializer_class = NoteSerializer
    authentication_classes = AUTHENTICATION
    permission_classes = [AllowAny]
    exactly_once_options = {"required": True}


class StampView(APIView):
    """``post`` is exactly-once with one shared scope (so no ``anonymous-key``); ``get`` is not."""

    serializer_class = NoteSerializer  # read by drf-spectacular only
    authentication_classes = AUTHENTICATION
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"notes": Note.objects.count()})

    @exactly_once(scope=shared_scope)
    def post(self, request: Request) -> Response:
        note = Note.objects.create(text="stamp")
        return Response({"id": note.pk, "nonce": uuid.uuid4().hex}, status=201)


@api_view(["POST"])
@schema(DefaultSchema())
@authentication_classes(AUTHENTICATION)
@permission_classes([AllowAny])
@exactly_once
def inner_fn(request: Request) -> Response:
    """``@exactly_once`` under ``@api_view``: DRF's authentication decides the scope."""
    note = Note.objects.create(text="inner")
    return Response({"id": note.pk, "nonce": uuid.uuid4().hex}, status=201)


@exactly_once
@api_view(["POST"])
@schema(DefaultSchema())
def outer_fn(request: Request) -> Response:
    """``@exactly_once`` around the whole ``@api_view``."""
    note = Note.objects.create(text="outer")
    return Response({"id": note.pk, "nonce": uuid.uuid4().hex}, status=201)


class PlainView(APIView):
    """No exactly-once at all."""

    serializer_class = NoteSerializer  # read by drf-spectacular only
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        return Response({"ok": True}, status=201)


# --- exception handlers a project might configure ------------------------------------------------


def enveloping_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """A project's own error format: every error in an ``{"error": ...}`` envelope."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    error: dict[str, Any] = {"status": response.status_code, "message": str(getattr(exc, "detail", exc))}
    if isinstance(exc, ExactlyOnceProblem):
        error["kind"] = exc.problem["type"]
    response.data = {"error": error}
    return response


def declining_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """A handler that knows nothing of op_store's problems (returns None for them)."""
    if isinstance(exc, ExactlyOnceProblem):
        return None
    return exception_handler(exc, context)
