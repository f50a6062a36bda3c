"""Request level: ``exactly_once`` against the bare view, the raw-SQL floor and the Django alternatives.

Every request goes through ``django.test.Client`` (the whole handler, no middleware), on each database
in turn; while one is measured it is also ``default`` (``djangosetup.default_database``), because some
alternatives always use ``default``. All the cases of one comparison alternate in the same rounds
(``harness.measure``), and the derived figures are ratios within that run:

- ``floor``: one raw-SQL cycle through the driver (committed INSERT, committed UPDATE of a 200-byte
  reply, a SELECT; ``store.RawBaseline``), the unit the issue measures added time in;
- ``bare view``: a trivial POST view (``JsonResponse``, status 201);
- ``exactly_once``: the same view decorated, on a fresh key and replayed (the same key every time);
- ``store admit+seal``: exactly the store calls ``exactly_once`` makes for a fresh request (try_admit,
  then seal_owned of the encoded reply), without the HTTP part;
- ``django-idempotency-key`` 1.3 (yoyowallet): its ``ExemptIdempotencyKeyMiddleware`` applied to the
  view with ``decorator_from_middleware`` and ``@idempotency_key``, storing pickled responses in a
  ``DatabaseCache`` (its durable option);
- ``drf-idempotency`` 1.0: ``@idempotent()`` with its ``DatabaseBackend``;
- ``drf-idempotencykey`` 0.2: its ``DrfIdempotencyKeyMixin`` on a DRF ``APIView`` (it only works on
  DRF views, for authenticated users, with UUID keys), compared with the same ``APIView`` bare.

Reported per database: microseconds per request, **added floors** = (time - its bare view) / floor,
and the **replay ratio** = replay / its bare view; statements and commits per request. Then: a view
that does real work (five queries and a 50-row JSON reply) bare vs replayed, and a view that writes
one row: bare (1 commit), ``exactly_once`` (3) and ``exactly_once(atomic=True)`` (2: the seal joins
the view's transaction).
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path

from op_store.decorators import exactly_once

from .djangosetup import available
from .harness import Row, measure, row, timing_rows

#: The one-commit mode's label, and its case on the writing view.
ONE_COMMIT_LABEL = 'exactly_once(admission="in_transaction")'
ONE_COMMIT = f"writing view, {ONE_COMMIT_LABEL}"
SCOPE = "op_store.lifecycle.scopes.shared_scope"  # no auth middleware here: one scope for all
BODY = b'{"amount": 1}'

#: What each alternative does differently (shown next to its figures).
NOTES = {
    "exactly_once": "durable row per key; concurrent duplicates get 409 (in flight); fingerprint checked",
    "django-idempotency-key": (
        "cache-backed (DatabaseCache, pickled response); lock only around the lookup: concurrent duplicates "
        "both run; no fingerprint beyond key+path+body hash; the cache's set() does a COUNT(*) of the table"
    ),
    "drf-idempotency": "database row per key (get_or_create in a transaction); concurrent duplicate gets 409",
    "drf-idempotencykey": (
        "DRF APIView mixin, authenticated users and UUID keys only; replay locks the row (SELECT FOR UPDATE) "
        "and writes an access counter: a replay commits a write"
    ),
}


def trivial(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True, "echo": len(request.body)}, status=201)


def _alias() -> str:
    from op_store.conf import op_store_settings

    return op_store_settings.DATABASE or "default"


def writing(request: HttpRequest) -> HttpResponse:
    from tests.testapp.models import Row as RowModel

    RowModel.objects.using(_alias()).create(key="bench")
    return JsonResponse({"ok": True}, status=201)


def working(request: HttpRequest) -> HttpResponse:
    """Real work: five queries and a 50-row JSON reply (what an ordinary endpoint does)."""
    from tests.testapp.models import Counter
    from tests.testapp.models import Row as RowModel

    alias = _alias()
    rows = RowModel.objects.using(alias)
    counter, _ = Counter.objects.using(alias).get_or_create(name="work")
    latest = list(rows.order_by("-id").values("id", "key")[:50])
    total = rows.count()
    benches = rows.filter(key="bench").count()
    first = rows.order_by("id").values_list("id", flat=True).first()
    return JsonResponse(
        {"counter": counter.value, "total": total, "benches": benches, "first": first, "latest": latest}, status=201
    )


def _django_idempotency_key(view: Callable[..., HttpResponse]) -> Callable[..., Any]:
    from django.utils.decorators import decorator_from_middleware
    from idempotency_key.decorators import idempotency_key
    from idempotency_key.middleware import ExemptIdempotencyKeyMiddleware

    return decorator_from_middleware(ExemptIdempotencyKeyMiddleware)(idempotency_key(view))


def _drf_idempotency(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    from drf_idempotency.decorators import idempotent

    return idempotent()(view)


_USERS: dict[str, Any] = {}


def _drf_views() -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    """The trivial view as a DRF APIView, bare and with drf-idempotencykey's mixin."""
    from rest_framework.authentication import BaseAuthentication
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class BenchUser(BaseAuthentication):
        """A fixed, already loaded user (no query), the same for the bare and the keyed view."""

        def authenticate(self, request: Any) -> tuple[Any, None]:
            return _USERS["default"], None

    class Bare(APIView):
        authentication_classes = [BenchUser]
        permission_classes: list[Any] = []

        def post(self, request: Any) -> Response:
            return Response({"ok": True, "echo": len(request.body)}, status=201)

    keyed = None
    if available("drf_idempotencykey"):
        from drf_idempotencykey.mixins import DrfIdempotencyKeyMixin

        class Keyed(DrfIdempotencyKeyMixin, Bare):
            pass

        keyed = Keyed.as_view()
    return Bare.as_view(), keyed


def _prepared_store(scope: str) -> Any:
    """The ORM store with its statements prepared (``OP_STORE["PREPARED_STATEMENTS"]``)."""
    from op_store.store import DjangoOperationStore

    return DjangoOperationStore(scope, prepared=True)


def _function_store(scope: str) -> Any:
    """The ORM store admitting through the admission function (``OP_STORE["ADMISSION_FUNCTION"]``)."""
    from op_store.store import DjangoOperationStore

    return DjangoOperationStore(scope, admission_function=True)


#: The PostgreSQL admission function's cases (unprepared, like the default "exactly_once").
FUNCTION_LABEL = "exactly_once, admission function"
ONE_COMMIT_FUNCTION_LABEL = f"{ONE_COMMIT_LABEL}, admission function"
ONE_COMMIT_FUNCTION = f"writing view, {ONE_COMMIT_FUNCTION_LABEL}"


def build_urlpatterns() -> list[URLPattern]:
    patterns = [
        path("bench/bare/", trivial),
        path("bench/once/", exactly_once(scope=SCOPE)(trivial)),
        path("bench/one-commit/", exactly_once(scope=SCOPE, admission="in_transaction")(trivial)),
        path("bench/write/bare/", writing),
        path("bench/write/once/", exactly_once(scope=SCOPE)(writing)),
        path("bench/write/atomic/", exactly_once(scope=SCOPE, atomic=True)(writing)),
        path("bench/write/one-commit/", exactly_once(scope=SCOPE, admission="in_transaction")(writing)),
        path("bench/work/bare/", working),
        path("bench/work/once/", exactly_once(scope=SCOPE)(working)),
    ]
    from .concurrency import slow_view

    patterns.append(path("bench/once-prepared/", exactly_once(scope=SCOPE, store=_prepared_store)(trivial)))
    patterns.append(path("bench/once-function/", exactly_once(scope=SCOPE, store=_function_store)(trivial)))
    one_commit_function = exactly_once(scope=SCOPE, store=_function_store, admission="in_transaction")
    patterns.append(path("bench/one-commit-function/", one_commit_function(trivial)))
    patterns.append(path("bench/write/one-commit-function/", one_commit_function(writing)))

    patterns.append(path("bench/slow/once/", exactly_once(scope=SCOPE)(slow_view)))
    if available("idempotency_key"):
        patterns.append(path("bench/dik/", _django_idempotency_key(trivial)))
        patterns.append(path("bench/slow/dik/", _django_idempotency_key(slow_view)))
    if available("drf_idempotency"):
        patterns.append(path("bench/drfi/", _drf_idempotency(trivial)))
        patterns.append(path("bench/slow/drfi/", _drf_idempotency(slow_view)))
    drf_bare, drf_keyed = _drf_views()
    patterns.append(path("bench/drf/bare/", drf_bare))
    if drf_keyed is not None:
        patterns.append(path("bench/drfik/", drf_keyed))
    return patterns


# --- measuring ------------------------------------------------------------------------------------


def _poster(client: Any, url: str, keys: Callable[[], str] | None, status: int = 201) -> Callable[[], object]:
    def call() -> object:
        extra = {} if keys is None else {"HTTP_IDEMPOTENCY_KEY": keys()}
        response = client.post(url, BODY, content_type="application/json", **extra)
        assert response.status_code == status, (url, response.status_code, response.content)
        return response

    return call


def _counter(prefix: str) -> Callable[[], str]:
    numbers = itertools.count()
    return lambda: f"{prefix}-{next(numbers)}"


def _uuids() -> Callable[[], str]:
    return lambda: str(uuid.uuid4())


@functools.cache
def _commit_counter() -> Any:
    import re

    control = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
    write = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b|\bINSERT INTO\b", re.IGNORECASE)

    def count(sqls: list[str]) -> tuple[int, int]:
        """(statements, commits that write): COMMITs after a write, plus writes run in autocommit.

        The one exception is op_store's admission on PostgreSQL, ``WITH ins AS (INSERT .. ON CONFLICT
        DO NOTHING ..) SELECT ..`` or a call of the admission function ``op_store_admit``: when the id
        exists the insert does nothing, no transaction id is assigned and its commit writes no WAL
        (``store`` checks that with ``pg_current_xact_id_if_assigned()``). It is counted as a write
        when the request then seals or releases the operation (a write to its row), i.e. when it admitted.
        """
        statements = commits = admissions = 0
        in_transaction = wrote = operation_written = False
        for sql in sqls:
            word = control.match(sql)
            if word:
                keyword = word.group(1).upper()
                if keyword == "BEGIN":
                    in_transaction, wrote = True, False
                elif keyword in ("COMMIT", "ROLLBACK"):
                    commits += keyword == "COMMIT" and wrote
                    in_transaction = wrote = False
                continue
            statements += 1
            if (sql.lstrip().upper().startswith("WITH INS AS (INSERT") and "ON CONFLICT" in sql) or (
                "op_store_admit" in sql
            ):
                admissions += not in_transaction
                continue
            if write.search(sql):
                operation_written |= "op_store_operation" in sql
                if in_transaction:
                    wrote = True
                else:
                    commits += 1
        # An admission that inserted is followed by its seal or release (an UPDATE/DELETE of the row).
        return statements, commits + (admissions if operation_written else 0)

    return count


def cost(aliases: list[str], fn: Callable[[], object]) -> tuple[int, int]:
    """(statements, commits) of one call, over the connections of ``aliases``."""
    from contextlib import ExitStack

    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with ExitStack() as stack:
        captures = [stack.enter_context(CaptureQueriesContext(connections[a])) for a in dict.fromkeys(aliases)]
        fn()
    sqls = [q["sql"] for c in captures for q in c.captured_queries]
    return _commit_counter()(sqls)


def _store_cycle(alias: str) -> Callable[[], object]:
    """What exactly_once asks of the store for a fresh request: try_admit, then seal_owned of the reply."""
    from op_store.lifecycle.reply import HttpReply, encode_reply, reply_schema
    from op_store.store import DjangoOperationStore

    store = DjangoOperationStore(scope="bench-cycle", using=alias)
    root, registry = reply_schema()
    data = encode_reply(HttpReply(201, [("Content-Type", "application/json")], b'{"ok": true, "echo": 13}'))
    ids = itertools.count(1)

    def call() -> object:
        op = next(ids)
        adm = store.try_admit(op, fingerprint=b"x" * 32, method="POST /bench/once/", key=f"k{op}")
        assert adm.token is not None
        store.seal_owned(op, adm.token, data, root, registry, status_code=201)
        return adm

    return call


def _derived(group: str, medians: dict[str, float], floor: float, pairs: list[tuple[str, str, str, str]]) -> list[Row]:
    """Added floors and replay ratios of each (label, bare, fresh, replay) in ``pairs``."""
    rows: list[Row] = []
    for label, bare, fresh, replay in pairs:
        if fresh not in medians:
            continue
        added = medians[fresh] - medians[bare]
        note = NOTES.get(label, "")
        rows.append(row(group, f"{label}: fresh adds (floors)", added / floor, "floors", note))
        rows.append(row(group, f"{label}: fresh adds (time)", added * 1e6, "us"))
        rows.append(row(group, f"{label}: replay / bare", medians[replay] / medians[bare], "ratio"))
        rows.append(row(group, f"{label}: replay adds (time)", (medians[replay] - medians[bare]) * 1e6, "us"))
    return rows


def _trivial(alias: str, client: Any, quick: bool) -> list[Row]:
    from .store import RawBaseline

    group = f"requests/{alias}"
    raw = RawBaseline(alias)
    ids = itertools.count(10**9)
    cases: dict[str, Callable[[], object]] = {
        "floor (raw SQL cycle)": lambda: raw.cycle(next(ids), scope="floor"),
        "bare view": _poster(client, "/bench/bare/", None),
        "exactly_once, fresh key": _poster(client, "/bench/once/", _counter(f"fresh-{alias}")),
        "exactly_once, replay": _poster(client, "/bench/once/", functools.partial(str, f"replay-{alias}")),
        "store admit+seal (as exactly_once)": _store_cycle(alias),
    }
    pairs = [("exactly_once", "bare view", "exactly_once, fresh key", "exactly_once, replay")]
    cases[f"{ONE_COMMIT_LABEL}, fresh key"] = _poster(client, "/bench/one-commit/", _counter(f"one-{alias}"))
    cases[f"{ONE_COMMIT_LABEL}, replay"] = _poster(client, "/bench/one-commit/", functools.partial(str, f"r1-{alias}"))
    pairs.append((ONE_COMMIT_LABEL, "bare view", *list(cases)[-2:]))  # type: ignore[arg-type]
    if available("idempotency_key"):
        cases["django-idempotency-key, fresh"] = _poster(client, "/bench/dik/", _counter(f"dik-{alias}"))
        cases["django-idempotency-key, replay"] = _poster(client, "/bench/dik/", functools.partial(str, "dik-replay"))
        pairs.append(("django-idempotency-key", "bare view", *list(cases)[-2:]))  # type: ignore[arg-type]
    if available("drf_idempotency"):
        cases["drf-idempotency, fresh"] = _poster(client, "/bench/drfi/", _counter(f"drfi-{alias}"))
        cases["drf-idempotency, replay"] = _poster(client, "/bench/drfi/", functools.partial(str, "drfi-replay"))
        pairs.append(("drf-idempotency", "bare view", *list(cases)[-2:]))  # type: ignore[arg-type]
    cases["bare DRF APIView"] = _poster(client, "/bench/drf/bare/", None)
    if available("drf_idempotencykey"):
        replay_uuid = str(uuid.uuid4())
        cases["drf-idempotencykey, fresh"] = _poster(client, "/bench/drfik/", _uuids())
        cases["drf-idempotencykey, replay"] = _poster(client, "/bench/drfik/", functools.partial(str, replay_uuid))
        pairs.append(("drf-idempotencykey", "bare DRF APIView", *list(cases)[-2:]))  # type: ignore[arg-type]
    if alias == "postgres":
        cases["exactly_once, prepared statements, fresh"] = _poster(client, "/bench/once-prepared/", _counter("prep"))
        cases["exactly_once, prepared statements, replay"] = _poster(
            client, "/bench/once-prepared/", functools.partial(str, "prep-replay")
        )
        pairs.append(("exactly_once, prepared statements", "bare view", *list(cases)[-2:]))  # type: ignore[arg-type]
    if alias.startswith("postgres"):
        cases[f"{FUNCTION_LABEL}, fresh"] = _poster(client, "/bench/once-function/", _counter(f"fn-{alias}"))
        cases[f"{FUNCTION_LABEL}, replay"] = _poster(client, "/bench/once-function/", functools.partial(str, "fn-r"))
        pairs.append((FUNCTION_LABEL, "bare view", *list(cases)[-2:]))  # type: ignore[arg-type]
        one_fn = "/bench/one-commit-function/"
        cases[f"{ONE_COMMIT_FUNCTION_LABEL}, fresh"] = _poster(client, one_fn, _counter(f"one-fn-{alias}"))
        cases[f"{ONE_COMMIT_FUNCTION_LABEL}, replay"] = _poster(client, one_fn, functools.partial(str, "one-fn-r"))
        pairs.append((ONE_COMMIT_FUNCTION_LABEL, "bare view", *list(cases)[-2:]))  # type: ignore[arg-type]
    unprepared = None
    if alias.startswith("postgres"):
        unprepared = RawBaseline(alias, prepared=False)
        cases["floor, unprepared (Django's driver settings)"] = lambda: unprepared.cycle(next(ids), scope="floor")
    rounds, block = (5, 30) if quick else (7, 100)
    try:
        medians = measure(cases, rounds=rounds, block=block, warmup=5)
    finally:
        raw.close()
        if unprepared is not None:
            unprepared.close()
    floor = medians["floor (raw SQL cycle)"]
    rows = timing_rows(group, medians, note="trivial POST view, test client")
    rows += _derived(group, medians, floor, pairs)
    store_cycle = medians["store admit+seal (as exactly_once)"]
    added = medians["exactly_once, fresh key"] - medians["bare view"]
    rows.append(
        row(group, "exactly_once: fresh adds / store admit+seal", added / store_cycle, "ratio", "measured apart")
    )
    rows.append(row(group, "store admit+seal / floor", store_cycle / floor, "ratio"))
    rows += _store_share(client, group, quick)
    if unprepared is not None:
        rows.append(
            row(
                group,
                "exactly_once: fresh adds (unprepared floors)",
                added / medians["floor, unprepared (Django's driver settings)"],
                "floors",
                "the floor on Django's driver settings",
            )
        )
    rows += _costs(alias, client, group)
    return rows


def _store_share(client: Any, group: str, quick: bool) -> list[Row]:
    """Time inside the store calls of fresh requests, against the time they add over the bare view.

    Blocks of bare and fresh requests alternate (median of the rounds); during the fresh block,
    ``DjangoOperationStore.try_admit`` and ``seal_owned`` are timed as they run, so the ratio
    compares the request's added time with the store cycle *it* performed.
    """
    import statistics
    import time

    from op_store.store.orm import DjangoOperationStore

    spent = [0.0]
    originals = {name: getattr(DjangoOperationStore, name) for name in ("try_admit", "seal_owned")}

    def timed(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

        return call

    bare = _poster(client, "/bench/bare/", None)
    fresh = _poster(client, "/bench/once/", _counter("share"))
    rounds, block = (5, 30) if quick else (7, 100)
    added: list[float] = []
    inside: list[float] = []
    for name, original in originals.items():
        setattr(DjangoOperationStore, name, timed(original))
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(block):
                bare()
            bare_time = (time.perf_counter() - started) / block
            spent[0] = 0.0
            started = time.perf_counter()
            for _ in range(block):
                fresh()
            added.append((time.perf_counter() - started) / block - bare_time)
            inside.append(spent[0] / block)
    finally:
        for name, original in originals.items():
            setattr(DjangoOperationStore, name, original)
    a, s = statistics.median(added), statistics.median(inside)
    return [
        row(group, "exactly_once, fresh: time in store calls", s * 1e6, "us", "try_admit + seal_owned, timed inside"),
        row(group, "exactly_once: fresh adds / its store calls", a / s, "ratio", "lifecycle cost beyond the store"),
    ]


def _costs(alias: str, client: Any, group: str) -> list[Row]:
    """Statements and commits per request, counted on the database's connections."""
    aliases = [alias, "default"]
    rows: list[Row] = []
    fresh_key = _counter(f"cost-{alias}")
    checks = [
        ("exactly_once, fresh", _poster(client, "/bench/once/", fresh_key)),
        ("exactly_once, replay", _poster(client, "/bench/once/", functools.partial(str, f"replay-{alias}"))),
        (f"{ONE_COMMIT_LABEL}, fresh", _poster(client, "/bench/one-commit/", _counter(f"cost-one-{alias}"))),
        (f"{ONE_COMMIT_LABEL}, replay", _poster(client, "/bench/one-commit/", functools.partial(str, f"r1-{alias}"))),
    ]
    if available("idempotency_key"):
        checks += [
            ("django-idempotency-key, fresh", _poster(client, "/bench/dik/", _counter(f"cost-dik-{alias}"))),
            ("django-idempotency-key, replay", _poster(client, "/bench/dik/", functools.partial(str, "dik-replay"))),
        ]
    if available("drf_idempotency"):
        checks += [
            ("drf-idempotency, fresh", _poster(client, "/bench/drfi/", _counter(f"cost-drfi-{alias}"))),
            ("drf-idempotency, replay", _poster(client, "/bench/drfi/", functools.partial(str, "drfi-replay"))),
        ]
    if available("drf_idempotencykey"):
        replay_uuid = str(uuid.uuid4())
        replay = _poster(client, "/bench/drfik/", functools.partial(str, replay_uuid))
        replay()
        checks += [
            ("drf-idempotencykey, fresh", _poster(client, "/bench/drfik/", _uuids())),
            ("drf-idempotencykey, replay", replay),
        ]
    if alias.startswith("postgres"):
        one_fn = "/bench/one-commit-function/"
        checks += [
            (f"{FUNCTION_LABEL}, fresh", _poster(client, "/bench/once-function/", _counter(f"cost-fn-{alias}"))),
            (f"{FUNCTION_LABEL}, replay", _poster(client, "/bench/once-function/", functools.partial(str, "fn-r"))),
            (f"{ONE_COMMIT_FUNCTION_LABEL}, fresh", _poster(client, one_fn, _counter(f"cost-one-fn-{alias}"))),
            (f"{ONE_COMMIT_FUNCTION_LABEL}, replay", _poster(client, one_fn, functools.partial(str, "one-fn-r"))),
        ]
    for name, fn in checks:
        rows += _cost_rows(group, name, aliases, fn)
    return rows


def _writes_and_work(alias: str, client: Any, quick: bool) -> list[Row]:
    from .store import RawBaseline

    group = f"requests/{alias}"
    raw = RawBaseline(alias)
    ids = itertools.count(2 * 10**9)
    new_key = _counter(f"w-{alias}")
    work_replay = functools.partial(str, f"work-replay-{alias}")
    cases = {
        "floor (raw SQL cycle)": lambda: raw.cycle(next(ids), scope="floor"),
        "writing view bare": _poster(client, "/bench/write/bare/", None),
        "writing view, exactly_once": _poster(client, "/bench/write/once/", new_key),
        "writing view, exactly_once(atomic=True)": _poster(client, "/bench/write/atomic/", new_key),
        ONE_COMMIT: _poster(client, "/bench/write/one-commit/", new_key),
        "working view bare": _poster(client, "/bench/work/bare/", None),
        "working view, exactly_once replay": _poster(client, "/bench/work/once/", work_replay),
    }
    writing_views = ["writing view, exactly_once", "writing view, exactly_once(atomic=True)", ONE_COMMIT]
    if alias.startswith("postgres"):
        cases[ONE_COMMIT_FUNCTION] = _poster(client, "/bench/write/one-commit-function/", new_key)
        writing_views.append(ONE_COMMIT_FUNCTION)
    rounds, block = (5, 30) if quick else (7, 100)
    try:
        medians = measure(cases, rounds=rounds, block=block, warmup=3)
    finally:
        raw.close()
    floor = medians["floor (raw SQL cycle)"]
    rows = timing_rows(group, {k: v for k, v in medians.items() if k != "floor (raw SQL cycle)"})
    bare = medians["writing view bare"]
    for name in writing_views:
        rows.append(row(group, f"{name}: adds (floors)", (medians[name] - bare) / floor, "floors", "view writes 1 row"))
    rows.append(
        row(
            group,
            "working view: replay / bare",
            medians["working view, exactly_once replay"] / medians["working view bare"],
            "ratio",
            "5 queries + 50-row JSON",
        )
    )
    aliases = [alias, "default"]
    for name, url, keys in (
        ("writing view bare", "/bench/write/bare/", None),
        ("writing view, exactly_once", "/bench/write/once/", new_key),
        ("writing view, exactly_once(atomic=True)", "/bench/write/atomic/", new_key),
        (ONE_COMMIT, "/bench/write/one-commit/", new_key),
        *(
            [(ONE_COMMIT_FUNCTION, "/bench/write/one-commit-function/", new_key)]
            if alias.startswith("postgres")
            else []
        ),
    ):
        rows += _cost_rows(group, name, aliases, _poster(client, url, keys))
    return rows


def _cost_rows(group: str, name: str, aliases: list[str], fn: Callable[[], object]) -> list[Row]:
    statements, commits = cost(aliases, fn)
    return [row(group, f"{name}: statements", statements, "stmts"), row(group, f"{name}: commits", commits, "commits")]


def run(quick: bool) -> list[Row]:
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from .djangosetup import default_database, setup

    aliases = setup()
    rows: list[Row] = []
    for alias in aliases:
        with default_database(alias), override_settings(OP_STORE={"DATABASE": alias}):
            _USERS["default"] = get_user_model().objects.db_manager(alias).get_or_create(username="bench")[0]
            client = Client()
            rows += _trivial(alias, client, quick)
            rows += _writes_and_work(alias, client, quick)
    return rows
