"""What differs between the Django versions op_store supports (4.2 and 5.2; ``make test-django42`` runs
this suite on 4.2): each difference sits behind one function of ``op_store._compat``, checked here
against what the running Django really does."""

from __future__ import annotations

import subprocess
import sys

import django
import pytest
from django.core.cache import cache
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.test.utils import CaptureQueriesContext

from op_store import _compat
from op_store.admin.operations import OperationAdmin
from tests.support.display import login_client, seed
from tests.support.example_server import EXAMPLE, example_env, manage

CHANGELIST = "/admin/op_store/operation/"


def test_the_changelist_queryset_gets_exclude_parameters_only_when_django_passes_them() -> None:
    calls: list[tuple[object, ...]] = []

    def get_queryset(*args: object) -> str:
        calls.append(args)
        return "rows"

    assert _compat.changelist_queryset(get_queryset, "request", None) == "rows"  # type: ignore[arg-type]
    assert _compat.changelist_queryset(get_queryset, "request", {"state__exact"}) == "rows"  # type: ignore[arg-type]
    assert calls == [("request",), ("request", {"state__exact"})]


def test_the_operations_admin_never_shows_facets() -> None:
    if django.VERSION >= (5, 0):
        from django.contrib.admin import ShowFacets

        assert OperationAdmin.show_facets is ShowFacets.NEVER
    else:
        assert not hasattr(django.contrib.admin, "ShowFacets")  # Django 4.2 has no facets to turn off


@pytest.mark.skipif(django.VERSION < (5, 0), reason="admin facets came with Django 5.0")
@pytest.mark.django_db
def test_asking_for_facets_costs_the_changelist_no_query() -> None:
    seed()
    client = login_client()

    def queries(query: str) -> int:
        cache.clear()  # the overview's aggregates are cached
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"{CHANGELIST}{query}").status_code == 200
        return len(ctx.captured_queries)

    assert queries("?_facets=True") == queries("")


def test_sqlite_init_command_is_taken_exactly_when_compat_says_so(tmp_path, django_db_blocker) -> None:
    settings = {**connection.settings_dict, "ENGINE": "django.db.backends.sqlite3"}
    settings.update(NAME=str(tmp_path / "wal.sqlite3"), OPTIONS={"init_command": "PRAGMA journal_mode=WAL;"})
    conn = DatabaseWrapper(settings, "wal")
    with django_db_blocker.unblock():
        if _compat.sqlite_takes_init_command():
            with conn.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone()[0] == "wal"
        else:
            with pytest.raises(TypeError, match="init_command"):
                conn.ensure_connection()
        conn.close()
    assert _compat.sqlite_takes_init_command() is (django.VERSION >= (5, 1))


def test_the_w003_hint_names_a_fix_this_django_accepts() -> None:
    from op_store import checks

    if django.VERSION >= (5, 1):
        assert "init_command" in checks.WAL_HINT
    else:
        assert "init_command" not in checks.WAL_HINT_DJANGO42 and "PRAGMA journal_mode=WAL" in checks.WAL_HINT_DJANGO42


def test_the_example_database_is_in_wal_mode(tmp_path) -> None:
    env = example_env(tmp_path)
    manage(env, "migrate", "--no-input")
    probe = (
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('PRAGMA journal_mode')\n"
        "    print(cursor.fetchone()[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", probe],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "wal"  # Django 5.2's shell first says what it imported


@pytest.mark.django_db
def test_an_operation_id_past_64_bits_is_not_found_by_the_api() -> None:
    client = login_client()
    for pk in (2**63, 13668659500981824782336):
        response = client.get(f"/api/op-store/operations/{pk}/")
        assert response.status_code == 404, response.content
        assert response["Content-Type"].startswith("application/problem+json")
    assert _compat.fits_bigint(2**63 - 1) and _compat.fits_bigint(-(2**63))
    assert not _compat.fits_bigint(2**63) and not _compat.fits_bigint(-(2**63) - 1)
