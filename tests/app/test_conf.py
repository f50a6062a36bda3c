"""The OP_STORE settings: defaults, validation (unknown keys, wrong types), reload on change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from op_store.conf import DEFAULT_SEAL_STATUSES, DEFAULTS, op_store_settings, validate


def test_defaults():
    values = validate({})
    assert values["LEASE"] == timedelta(seconds=60)
    assert values["RETENTION"] == timedelta(hours=24)
    assert values["TOMBSTONE_RETENTION"] == timedelta(days=7)
    assert values["DATABASE"] is None
    assert values["PURGE_BATCH_SIZE"] == 1000
    assert values["SEAL_STATUSES"](200) and not values["SEAL_STATUSES"](409)
    assert set(values) == set(DEFAULTS)
    assert 201 in DEFAULT_SEAL_STATUSES and 429 not in DEFAULT_SEAL_STATUSES


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ImproperlyConfigured, match="RETENTON"):
        validate({"RETENTON": 5})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("LEASE", "60"),
        ("LEASE", 0),
        ("LEASE", True),
        ("RETENTION", -1),
        ("TOMBSTONE_RETENTION", None),
        ("WAIT", "1"),
        ("WAIT", -0.5),
        ("MAX_RESPONSE_BYTES", 1.5),
        ("PURGE_BATCH_SIZE", 0),
        ("DATABASE", 1),
        ("STALE_POLICY", "sometimes"),
        ("REQUIRE_KEY", "yes"),
        ("ADMIN_READ_ONLY", 1),
        ("PREPARED_STATEMENTS", "on"),
        ("SEAL_STATUSES", [200, 700]),
        ("SEAL_STATUSES", 5),
        ("STORED_HEADERS", "Content-Type"),
        ("API_PERMISSION_CLASSES", [1]),
    ],
)
def test_wrong_types_are_errors_naming_the_key(key, value):
    with pytest.raises(ImproperlyConfigured, match=key):
        validate({key: value})


def test_not_a_dict():
    with pytest.raises(ImproperlyConfigured, match="dict"):
        validate([("LEASE", 5)])  # type: ignore[arg-type]


def test_normalisation():
    values = validate({"LEASE": 5, "RETENTION": 3600.5, "SEAL_STATUSES": [200, 201], "STORED_HEADERS": ["ETag"]})
    assert values["LEASE"] == timedelta(seconds=5)
    assert values["RETENTION"] == timedelta(seconds=3600.5)
    assert values["SEAL_STATUSES"](201) and not values["SEAL_STATUSES"](204)
    assert values["STORED_HEADERS"] == frozenset({"etag"})


def current(key: str):
    return getattr(op_store_settings, key)


def test_reload_on_override_settings():
    assert current("LEASE") == timedelta(seconds=60)
    with override_settings(OP_STORE={"LEASE": timedelta(seconds=5), "DATABASE": "other"}):
        assert current("LEASE") == timedelta(seconds=5)
        assert current("DATABASE") == "other"
    assert current("LEASE") == timedelta(seconds=60)
    assert current("DATABASE") is None


def test_invalid_override_raises_on_access():
    with override_settings(OP_STORE={"LEASE": "soon"}), pytest.raises(ImproperlyConfigured, match="LEASE"):
        current("LEASE")
    assert current("LEASE") == timedelta(seconds=60)


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        _ = op_store_settings.NOPE


def test_store_uses_the_reloaded_retention(db):
    from op_store.models import Operation
    from op_store.store import DjangoOperationStore
    from tests.support.stores import U32, U32_REGISTRY, FakeClock

    clock = FakeClock()
    with override_settings(OP_STORE={"RETENTION": 60}):
        DjangoOperationStore(clock=clock).seal(1, b"x", U32, U32_REGISTRY)
    assert Operation.objects.get().expires_at == clock.now + timedelta(seconds=60)


def test_store_defaults_are_the_settings_defaults():
    from op_store.store import InMemoryOperationStore

    values = validate({})
    memory = InMemoryOperationStore()
    assert (memory.retention, memory.tombstone_retention) == (values["RETENTION"], values["TOMBSTONE_RETENTION"])
    assert memory.lease == values["LEASE"]


def test_registered_resets_run_when_their_settings_change():
    from op_store import conf

    calls: list[str] = []
    reset = conf.reset_on_change("OP_STORE", "USE_TZ")(lambda: calls.append("reset"))
    try:
        with override_settings(DEBUG=True):
            pass
        assert calls == []  # not one of its settings
        with override_settings(OP_STORE={"LEASE": 5}):
            assert calls == ["reset"]
        assert calls == ["reset", "reset"]  # entering and leaving
    finally:
        conf._resets.remove(({"OP_STORE", "USE_TZ"}, reset))


def test_settings_derived_caches_reset_together(db):
    """The store's caches derived from the database settings all reset on one change."""
    from django.db import connections

    from op_store.store.orm import admission_connections, dialect_for, schema_cache

    connection = connections["default"]
    schema_cache.add(schema_cache.key(connection), {1})
    admission_connections.isolation_of(connection)
    dialect = dialect_for(connection)
    with override_settings(DATABASE_ROUTERS=[]):
        assert schema_cache.known(schema_cache.key(connection)) == frozenset()
        assert dialect_for(connection) is not dialect
        assert admission_connections._isolation == {}
