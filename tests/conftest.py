import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

# CI must not fail on a seed no one can reproduce: there, property tests run derandomized (the
# same examples every run); locally they explore new examples each time.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


#: The ``OP_STORE_TEST_DB`` values that run on a database server (tests/settings.py).
SERVER_DATABASES = ("postgres", "pgbouncer", "mysql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_db: needs a database server, PostgreSQL or MySQL/MariaDB (real concurrency, processes, a live "
        "server); skipped on SQLite, whose shared-cache test database answers concurrent writers 'table is locked'",
    )
    # (op_store.testing's pytest plugin makes requests inside TestCase behave as in production.)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    test_db = os.environ.get("OP_STORE_TEST_DB", "sqlite")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run with OP_STORE_TEST_DB=postgres")
    skip_server = pytest.mark.skip(reason="needs a database server: run with OP_STORE_TEST_DB=postgres or mysql")
    for item in items:
        if "postgres" in item.keywords and test_db not in ("postgres", "pgbouncer"):
            item.add_marker(skip_pg)
        elif "real_db" in item.keywords and test_db not in SERVER_DATABASES:
            item.add_marker(skip_server)


@pytest.fixture(autouse=True)
def _no_request_left_open() -> Iterator[None]:
    """End a request a test left open (a WSGI caller that never closed its response, as schemathesis
    does): the sibling connection would otherwise stay open into the next test."""
    yield
    from op_store.store.orm import admission_connections

    admission_connections.end_request()


@pytest.fixture(params=["statement", pytest.param("function", marks=pytest.mark.postgres)])
def pg_admission(request: pytest.FixtureRequest, settings: Any) -> dict[str, Any]:
    """Each way PostgreSQL admits: the one CTE statement, and the admission function
    (``OP_STORE["ADMISSION_FUNCTION"]``; PostgreSQL only). Sets ``OP_STORE`` and returns the keys,
    for tests that set ``OP_STORE`` themselves to merge."""
    keys = {"ADMISSION_FUNCTION": True} if request.param == "function" else {}
    settings.OP_STORE = {**getattr(settings, "OP_STORE", {}), **keys}
    return keys


# --- fixtures shared by the lifecycle tests --------------------------------------------------


@pytest.fixture
def user() -> Any:
    from django.contrib.auth.models import User

    return User.objects.create(username="alice")


@pytest.fixture
def scope(user: Any) -> str:
    """The default resolver's scope for ``user``."""
    return f"user:{user.pk}"


@pytest.fixture
def alice(user: Any) -> Any:
    """A logged-in client that turns a view's exception into the 500 a real client would see."""
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def admissions() -> Iterator[list[dict[str, Any]]]:
    """Every ``operation_admitted`` signal sent during the test."""
    from op_store.signals import operation_admitted

    seen: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    operation_admitted.connect(receiver)
    yield seen
    operation_admitted.disconnect(receiver)


@pytest.fixture
def atomic_requests() -> Iterator[None]:
    """``ATOMIC_REQUESTS`` on the default database for one test."""
    from django.db import connections

    conf = connections.settings["default"]
    conf["ATOMIC_REQUESTS"] = True
    try:
        yield
    finally:
        conf["ATOMIC_REQUESTS"] = False
