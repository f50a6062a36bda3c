"""Fixtures of the store tests: a fake clock, and every store backend (the in-memory store, the ORM
store on the test database, and on PostgreSQL the ORM store with prepared statements and the one
admitting through the admission function)."""

from __future__ import annotations

import pytest

from tests.support.stores import (
    FUNCTION_PARAM,
    ON_POSTGRES,
    ORM_PARAM,
    PREPARED_PARAM,
    PREPARES,
    FakeClock,
    MemoryBackend,
    OrmBackend,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(
    params=[
        "memory",
        ORM_PARAM,
        *([PREPARED_PARAM] if PREPARES else []),
        *([FUNCTION_PARAM] if ON_POSTGRES else []),
    ]
)
def backend(request: pytest.FixtureRequest, clock: FakeClock):
    if request.param == "memory":
        return MemoryBackend(clock)
    request.getfixturevalue("db")
    return OrmBackend(
        clock, prepared=request.param == PREPARED_PARAM, admission_function=request.param == FUNCTION_PARAM
    )


@pytest.fixture
def store(backend):
    return backend.make()
