"""Django internals op_store relies on, and what differs between the Django versions it supports.

Each function says which private API or version-dependent feature it uses and which Django versions
it was checked against, so an upgrade of Django (or a bump of the oldest one supported, 4.2 in
``pyproject.toml``) has one file to review.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

import django
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.asyncio import async_unsafe

# --- database connections, cursors and querysets


def raw_delete(queryset: QuerySet[Any], using: str) -> int:
    """Delete the rows of ``queryset`` with one DELETE: no collection of objects, no signals.

    The fast path of ``QuerySet.delete()`` (``QuerySet._raw_delete``, private; checked against
    Django 4.2-5.2). op_store's maintenance deletes by primary key in batches and sends its own
    signals; ``delete()`` would wrap each batch in a transaction, or fetch every row first when a
    project connects a ``pre_delete``/``post_delete`` receiver to ``Operation``.
    """
    return int(queryset._raw_delete(using))


@async_unsafe
def cursor_from(conn: BaseDatabaseWrapper, create: Callable[[Any], Any]) -> Any:
    """What ``conn.cursor()`` returns, with the driver cursor made by ``create(raw_connection)``.

    Mirrors ``BaseDatabaseWrapper.cursor()``/``_cursor()``/``_prepare_cursor()`` (checked against
    Django 4.2-5.2): health check, connect, thread check, then Django's own wrapper (the debug one
    when queries are logged), so query logging, ``execute_wrapper`` and ``assertNumQueries`` see
    the statements.
    """
    conn.close_if_health_check_failed()
    conn.ensure_connection()
    with conn.wrap_database_errors:
        cursor = create(conn.connection)
    conn.validate_thread_sharing()
    return conn.make_debug_cursor(cursor) if conn.queries_logged else conn.make_cursor(cursor)


# --- requests, transactions and tests
def django_request(request: Any) -> HttpRequest:
    """The Django request under a DRF ``Request`` (its ``_request``), or the request itself.

    DRF keeps the wrapped request in ``Request._request``; checked against DRF 3.15-3.18. A Django
    request is answered at once (several calls per request ask).
    """
    if isinstance(request, HttpRequest):
        return request
    inner = getattr(request, "_request", None)
    return inner if isinstance(inner, HttpRequest) else request


def is_drf_request(obj: object) -> bool:
    """Whether ``obj`` is a DRF ``Request`` (it wraps a Django request in ``_request``; DRF 3.18)."""
    return not isinstance(obj, HttpRequest) and isinstance(getattr(obj, "_request", None), HttpRequest)


def loaded_body(request: HttpRequest) -> bytes | None:
    """The body Django already read into memory (``HttpRequest._body``), None if it has not.

    Reading ``request.body`` would load it; this only looks. Checked against Django 4.2-5.2.
    """
    body = getattr(request, "_body", None)
    return body if isinstance(body, bytes) else None


def body_read_started(request: HttpRequest) -> bool:
    """Whether the body stream was already (partly) read (``HttpRequest._read_started``; Django 4.2-5.2)."""
    return bool(getattr(request, "_read_started", False))


def body_stream(request: HttpRequest) -> IO[bytes] | None:
    """The stream the body is read from (``HttpRequest._stream``; Django 4.2-5.2)."""
    return getattr(request, "_stream", None)


def replace_body_stream(request: HttpRequest, stream: IO[bytes]) -> None:
    """Make the request read its body from ``stream``, from the start (Django 4.2-5.2)."""
    request._stream = stream  # type: ignore[assignment]
    request._read_started = False  # type: ignore[attr-defined]


def form_parsed(request: HttpRequest) -> bool:
    """Whether ``request.POST`` was parsed already (``HttpRequest._post`` is set; Django 4.2-5.2)."""
    return hasattr(request, "_post")


def autocommit(conn: BaseDatabaseWrapper) -> bool:
    """``conn.get_autocommit()``, without its connection check when ``conn`` is connected already.

    ``get_autocommit`` opens the connection if needed and returns ``BaseDatabaseWrapper.autocommit``;
    once connected that attribute is the answer (checked against Django 4.2-5.2). Asked two or three
    times per keyed request, each ``get_autocommit`` costing an ``async_unsafe`` check.
    """
    if conn.connection is None:
        return bool(conn.get_autocommit())
    return bool(conn.autocommit)


def open_atomic_blocks(alias: str) -> list[Any]:
    """The ``transaction.atomic`` blocks open on ``alias``, outermost first.

    ``BaseDatabaseWrapper.atomic_blocks``; checked against Django 4.2-5.2.
    """
    return list(connections[alias].atomic_blocks)


def opened_by_test_case(block: Any) -> bool:
    """Whether an atomic block is one that Django's ``TestCase`` opened around a test.

    Django marks those blocks ``_from_testcase`` (and its own ``durable`` check ignores them the same
    way); checked against Django 4.2-5.2. Only :mod:`op_store.testing` asks.
    """
    return bool(getattr(block, "_from_testcase", False))


def non_atomic_requests(view: Any) -> set[str]:
    """The aliases a view declared non-atomic (``transaction.non_atomic_requests``).

    Django keeps them in the view's ``_non_atomic_requests`` set; checked against Django 4.2-5.2.
    """
    declared = getattr(view, "_non_atomic_requests", None)
    return set(declared) if isinstance(declared, set) else set()


class _EveryAlias(set[str]):
    """A ``_non_atomic_requests`` that answers "yes" for every alias; it iterates only the declared ones."""

    def __contains__(self, alias: object) -> bool:
        return True


def opt_out_of_atomic_requests(view: Any, declared: set[str]) -> None:
    """Tell Django not to open any ``ATOMIC_REQUESTS`` transaction around ``view``.

    Django's ``BaseHandler.make_view_atomic`` asks ``alias in view._non_atomic_requests`` for each
    alias (Django 4.2-5.2); the set set here answers yes for every alias, while iterating it (as
    :func:`non_atomic_requests` does) still gives only the aliases really declared non-atomic, so op_store
    can open the others itself, after the admission.
    """
    view._non_atomic_requests = _EveryAlias(declared)


def opted_out_of_atomic_requests(view: Any) -> bool:
    """Whether :func:`opt_out_of_atomic_requests` marked ``view``."""
    return isinstance(getattr(view, "_non_atomic_requests", None), _EveryAlias)


# --- what Django 4.2 lacks (the test suite runs on 4.2 and on 5.2: `make test-django42`)


def never_show_facets() -> Any:
    """``ModelAdmin.show_facets`` for "no facet counts": ``admin.ShowFacets.NEVER`` (Django 5.0+).

    Django 4.2 has no facets (and no ``ShowFacets``); it ignores the attribute, so None does there.
    """
    from django.contrib import admin  # only the admin asks; most of op_store never loads it

    show_facets = getattr(admin, "ShowFacets", None)
    return None if show_facets is None else show_facets.NEVER


def changelist_queryset(
    get_queryset: Callable[..., QuerySet[Any]], request: HttpRequest, exclude: Any
) -> QuerySet[Any]:
    """Call ``ChangeList.get_queryset`` (``get_queryset``: the bound ``super()`` method) as this Django takes it.

    Django 5.0 added ``exclude_parameters`` (facet counts leave one filter out) and passes it only
    for facets; Django 4.2 takes the request alone and never passes it.
    """
    return get_queryset(request) if exclude is None else get_queryset(request, exclude)


def sqlite_takes_init_command() -> bool:
    """Whether SQLite's ``OPTIONS`` accept ``init_command`` (statements run on each new connection).

    Added in Django 5.1; Django 4.2 hands every option to ``sqlite3.connect``, which refuses it.
    """
    return django.VERSION >= (5, 1)


def fits_bigint(value: int) -> bool:
    """Whether ``value`` fits a 64-bit integer column (``BigAutoField``: the operations' primary key).

    Django 5.0+ answers a lookup outside the column's range with no rows; Django 4.2 hands the value
    to the driver, and SQLite's raises ``OverflowError``. Views that look a row up by a URL's integer
    ask first, so both answer 404.
    """
    return -(2**63) <= value < 2**63
