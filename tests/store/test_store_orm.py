"""What only the ORM store has: transactions, the sibling connection, the schema cache, routers."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import blake3
import pytest
from django.db import connection, connections, transaction
from django.test.utils import override_settings

from op_store import signals
from op_store.models import Operation, Schema
from op_store.store import DjangoOperationStore, OperationState, OwnershipLostError
from op_store.store.orm import (
    ADMISSION_LOCK_TIMEOUT,
    AdmissionConnections,
    DatabaseSchemaSource,
    Isolation,
    IsolationLimit,
    admission_connections,
    close_admission_connections,
    ignore_atomic_blocks,
    schema_cache,
    store_alias,
)
from op_store.store.orm.dialects import dialect_class
from tests.support.stores import (
    CLOSURE_IDS,
    FULL,
    ORDER,
    POINT,
    ROOT,
    U32,
    U32_REGISTRY,
    FakeClock,
)
from tests.testapp.models import Counter


def in_other_thread(fn):
    """Run ``fn`` on another thread, i.e. on another database connection; return its result."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # pragma: no cover - re-raised below
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def state_seen_elsewhere(scope: str, operation_id: int) -> str | None:
    return in_other_thread(
        lambda: Operation.objects.filter(scope=scope, operation_id=operation_id).values_list("state", flat=True).first()
    )


# --- construction, aliases, routers ------------------------------------------------------------------


def test_scope_and_text_limits():
    with pytest.raises(ValueError, match="at most 255"):
        DjangoOperationStore(scope="x" * 256)
    with pytest.raises(TypeError):
        DjangoOperationStore(scope=5)
    with pytest.raises(TypeError):
        DjangoOperationStore(using=5)
    assert DjangoOperationStore(scope="x" * 255).scope == "x" * 255


@pytest.mark.django_db
def test_key_and_method_limits_write_nothing():
    store = DjangoOperationStore()
    with pytest.raises(ValueError, match="key"):
        store.try_admit(1, key="k" * 256)
    with pytest.raises(ValueError, match="method"):
        store.try_admit(1, method="m" * 256)
    assert store.lookup(1) is OperationState.UNKNOWN


class Router:
    def db_for_write(self, model, **hints):
        return "routed" if model._meta.app_label == "op_store" else None


def test_alias_resolution():
    assert store_alias() == "default"
    assert store_alias("explicit") == "explicit"
    with override_settings(DATABASE_ROUTERS=[f"{__name__}.Router"]):
        assert store_alias() == "routed"
        assert DjangoOperationStore().alias == "routed"
        with override_settings(OP_STORE={"DATABASE": "configured"}):
            assert store_alias() == "configured"
            assert DjangoOperationStore(using="explicit").alias == "explicit"
    assert DjangoOperationStore().alias == "default"


# --- models ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_u64_round_trips_through_the_orm(clock):
    store = DjangoOperationStore(scope="s", clock=clock)
    store.seal(2**64 - 1, b"top", U32, U32_REGISTRY)
    row = Operation.objects.get_by_id(2**64 - 1, scope="s")
    assert row.operation_id == 2**64 - 1 and row.state == "sealed"
    assert row.sealed_response().response == b"top"
    assert row.root_type_ref == U32
    assert str(row) == f"s/{2**64 - 1} (sealed)"
    with connection.cursor() as cursor:  # two's complement in the column
        cursor.execute("SELECT operation_id FROM op_store_operation WHERE id = %s", [row.pk])
        assert cursor.fetchone()[0] == -1
    schema = Schema.objects.by_hash(f"{U32.type_id:016x}")
    assert schema.to_vox() == U32_REGISTRY[U32.type_id]
    assert str(schema) == f"u32 {U32.type_id:016x}"


@pytest.mark.django_db
def test_queryset_helpers(clock):
    store = DjangoOperationStore(clock=clock)
    store.try_admit(1, lease=timedelta(seconds=10))
    store.try_admit(2, lease=timedelta(hours=1))
    store.seal(3, b"x", U32, U32_REGISTRY)
    later = clock.now + timedelta(minutes=1)
    assert list(Operation.objects.stale(later).values_list("operation_id", flat=True)) == [1]
    assert list(Operation.objects.in_flight(later).values_list("operation_id", flat=True)) == [2]
    assert Operation.objects.expired(later).count() == 0
    assert list(Operation.objects.expired(later + timedelta(days=1)).values_list("operation_id", flat=True)) == [3]
    assert Operation.objects.get_by_id(1).lease_expired(later)
    assert not Operation.objects.get_by_id(2).lease_expired(later)


@pytest.mark.django_db
def test_fingerprint_is_a_fixed_size_digest():
    store = DjangoOperationStore()
    store.try_admit(1, fingerprint=b"x" * 10_000)
    row = Operation.objects.get_by_id(1)
    assert len(row.fingerprint) == 32 and len(row.fingerprint_hex) == 64


# --- transactional seal ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seal_joins_the_callers_transaction_and_rolls_back_with_it():
    store = DjangoOperationStore()
    adm = store.try_admit(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        Counter.objects.create(name="charged", value=1)
        store.seal_owned(1, adm.token, b"reply", ROOT, FULL)
        assert store.lookup(1) is OperationState.SEALED  # visible inside the transaction
        raise RuntimeError("the handler failed after sealing")
    assert not Counter.objects.exists()
    assert store.lookup(1) is OperationState.ADMITTED
    assert Schema.objects.count() == 0  # the schemas rolled back with it
    store.seal_owned(1, adm.token, b"reply", ROOT, FULL)
    assert Schema.objects.count() == len(CLOSURE_IDS)


@pytest.mark.django_db(transaction=True)
def test_admission_commits_apart_from_the_callers_transaction():
    store = DjangoOperationStore(scope="tx")
    with pytest.raises(RuntimeError), transaction.atomic():
        adm = store.try_admit(1, transactional=True)
        assert adm.admitted
        # Committed on the sibling connection: another connection sees it while we are inside.
        assert state_seen_elsewhere("tx", 1) == "admitted"
        assert store.try_admit(1).in_flight  # and so do we
        Counter.objects.create(name="charged", value=1)
        store.seal_owned(1, adm.token, b"reply", U32, U32_REGISTRY)
        if connection.vendor != "sqlite":  # shared-cache SQLite locks the table instead
            assert state_seen_elsewhere("tx", 1) == "admitted"  # the seal is not committed yet
        raise RuntimeError("handler failed")
    # The handler's write and the seal rolled back together; the admission stayed.
    assert not Counter.objects.exists()
    assert store.lookup(1) is OperationState.ADMITTED
    assert Operation.objects.get_by_id(1, scope="tx").transactional
    with transaction.atomic():
        Counter.objects.create(name="charged", value=1)
        store.seal_owned(1, adm.token, b"reply", U32, U32_REGISTRY)
    assert state_seen_elsewhere("tx", 1) == "sealed"
    assert Counter.objects.get().value == 1


@pytest.mark.django_db(transaction=True)
def test_ownership_lost_inside_a_transaction_rolls_it_back(clock):
    store = DjangoOperationStore(clock=clock)
    old = store.try_admit(1, lease=timedelta(seconds=5))
    clock.advance(seconds=10)
    new = store.take_over(1, old.token)
    assert new.admitted
    with transaction.atomic():
        Counter.objects.create(name="side effect", value=1)
        with pytest.raises(OwnershipLostError):
            store.seal_owned(1, old.token, b"late", U32, U32_REGISTRY)
        assert transaction.get_rollback()  # the handler's writes must not commit
    assert not Counter.objects.exists()
    assert store.lookup(1) is OperationState.ADMITTED


@pytest.mark.django_db(transaction=True)
def test_release_and_take_over_inside_a_transaction(clock):
    store = DjangoOperationStore(clock=clock)
    with pytest.raises(RuntimeError), transaction.atomic():
        adm = store.try_admit(1)
        assert store.release(1, adm.token)
        raise RuntimeError
    # PostgreSQL releases on the sibling (committed); SQLite in the caller's transaction (rolled back).
    expected = "admitted" if connection.vendor == "sqlite" else None
    assert state_seen_elsewhere("", 1) == expected
    old = store.try_admit(2, lease=timedelta(seconds=1))
    clock.advance(seconds=2)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert store.take_over(2, old.token).admitted
        raise RuntimeError
    assert store.try_admit(2).in_flight  # the takeover committed on its own


@pytest.mark.django_db
def test_inside_testcase_the_admission_stays_in_the_test_transaction():
    conn = connections["default"]
    assert admission_connections.acquire("default") is conn
    with transaction.atomic():
        assert admission_connections.acquire("default") is conn  # TestCase's block is not the caller's


def test_isolation_rules():
    def static(vendor, name, options=None):
        return dialect_class(vendor).static_isolation({"NAME": name, "OPTIONS": options or {}})

    assert static("postgresql", "x").possible
    assert not static("sqlite", ":memory:").possible
    assert not static("sqlite", "file:x?mode=memory").possible
    assert static("sqlite", "file:memorydb_default?mode=memory&cache=shared").possible
    assert not static("sqlite", "/tmp/x.db", {"transaction_mode": "IMMEDIATE"}).possible
    assert static("sqlite", "/tmp/x.db") is None  # decided by the journal mode


def test_sqlite_journal_mode_decides(tmp_path, django_db_blocker):
    from django.db.backends.sqlite3.base import DatabaseWrapper

    settings_dict = {
        **connections["default"].settings_dict,
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "j.sqlite3"),
        "OPTIONS": {},
    }
    conn = DatabaseWrapper(settings_dict, "journal")
    with django_db_blocker.unblock():
        found = admission_connections.isolation_of(conn)
        assert not found.possible and "not WAL" in found.reason
        with conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")
        admission_connections.reset()
        assert admission_connections.isolation_of(conn).possible
        conn.close()
        admission_connections.reset()
        close_admission_connections()


@pytest.mark.django_db(transaction=True)
def test_without_isolation_the_admission_joins_the_transaction(caplog, monkeypatch):
    conn = connections["default"]
    owner = AdmissionConnections()  # nothing decided or warned yet
    monkeypatch.setattr(owner, "isolation_of", lambda conn: Isolation(False, IsolationLimit.NOT_WAL, "pretend"))
    monkeypatch.setattr("op_store.store.orm.store.admission_connections", owner)
    store = DjangoOperationStore()
    with caplog.at_level(logging.WARNING, logger="op_store"), pytest.raises(RuntimeError), transaction.atomic():
        assert owner.acquire("default") is conn
        assert store.try_admit(1).admitted
        raise RuntimeError
    assert "inside the caller's transaction (SQLite journal_mode pretend (not WAL)" in caplog.text
    assert store.lookup(1) is OperationState.UNKNOWN  # rolled back with the caller


# --- the schema cache ----------------------------------------------------------------------------


@pytest.fixture
def fresh_cache():
    schema_cache.clear()
    yield schema_cache
    schema_cache.clear()


@pytest.mark.django_db(transaction=True)
def test_cache_learns_only_on_commit(fresh_cache):
    store = DjangoOperationStore()
    key = schema_cache.key(connections["default"])
    with pytest.raises(RuntimeError), transaction.atomic():
        store.seal(1, b"x", ROOT, FULL)
        assert fresh_cache.known(key) == frozenset()
        raise RuntimeError
    assert fresh_cache.known(key) == frozenset()
    store.seal(1, b"x", ROOT, FULL)
    assert fresh_cache.known(key) == CLOSURE_IDS


@pytest.mark.django_db
def test_cache_ignores_captured_callbacks_of_a_test_transaction(fresh_cache, django_capture_on_commit_callbacks):
    store = DjangoOperationStore()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        store.seal(1, b"x", U32, U32_REGISTRY)
    assert callbacks  # ran, but inside the test transaction that will roll back
    assert fresh_cache.known(schema_cache.key(connections["default"])) == frozenset()


@pytest.mark.django_db(transaction=True)
def test_cache_is_forgotten_on_flush_delete_and_settings(fresh_cache):
    from django.core.management import call_command

    store = DjangoOperationStore()
    key = schema_cache.key(connections["default"])
    store.seal(1, b"x", U32, U32_REGISTRY)
    assert fresh_cache.known(key)
    call_command("flush", interactive=False, verbosity=0)  # post_migrate
    assert not fresh_cache.known(key)
    store.seal(1, b"x", U32, U32_REGISTRY)
    Schema.objects.filter(pk=U32.type_id).delete()
    assert not fresh_cache.known(key)
    store.seal(2, b"x", U32, U32_REGISTRY)
    assert fresh_cache.known(key)
    Schema.objects.get(pk=U32.type_id).delete()
    assert not fresh_cache.known(key)
    store.seal(3, b"x", U32, U32_REGISTRY)
    from django.core.signals import setting_changed

    setting_changed.send(sender=None, setting="DATABASES", value=connections.settings, enter=False)
    assert not fresh_cache.known(key)


@pytest.mark.django_db(transaction=True)
def test_a_stale_cache_never_skips_a_missing_schema(fresh_cache, caplog):
    store = DjangoOperationStore()
    store.seal(1, b"x", ROOT, FULL)
    key = schema_cache.key(connections["default"])
    assert fresh_cache.known(key) == CLOSURE_IDS
    with connection.cursor() as cursor:  # behind the cache's back (a restore, raw SQL)
        cursor.execute("DELETE FROM op_store_schema")
    adm = store.try_admit(2)
    with caplog.at_level(logging.INFO, logger="op_store"):
        store.seal_owned(2, adm.token, b"y", ROOT, FULL)
    assert "stale" in caplog.text
    assert set(Schema.objects.values_list("id", flat=True)) == CLOSURE_IDS
    store.seal(3, b"z", ROOT, FULL)  # the plain seal path too
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM op_store_schema")
    store.seal(4, b"z", ROOT, FULL)
    assert set(Schema.objects.values_list("id", flat=True)) == CLOSURE_IDS


@pytest.mark.django_db
def test_a_registry_may_lack_what_the_table_has(fresh_cache):
    # Cold cache: POINT is only in the table, not in the registry nor the cache.
    store = DjangoOperationStore()
    store.seal(1, b"x", ROOT, FULL)
    schema_cache.clear()
    from tests.support.stores import registry_without

    store.seal(2, b"y", ROOT, registry_without(POINT.id))
    assert store.get_sealed(2).response == b"y"


# --- signals, logging, the schema source ------------------------------------------------------------


@pytest.mark.django_db
def test_signals(clock):
    events = []

    def receiver(signal, **kwargs):
        events.append((signal, kwargs.get("operation_id"), kwargs.get("reason") or kwargs.get("taken_over")))

    for signal in (signals.operation_admitted, signals.operation_sealed, signals.operation_removed):
        signal.connect(receiver, weak=False)
    purged = []
    signals.operations_purged.connect(lambda **kw: purged.append(kw), weak=False, dispatch_uid="t")
    try:
        store = DjangoOperationStore(clock=clock)
        adm = store.try_admit(1, lease=timedelta(seconds=1))
        store.try_admit(1)  # in flight: no signal
        clock.advance(seconds=2)
        adm = store.take_over(1, adm.token)
        store.seal_owned(1, adm.token, b"x", U32, U32_REGISTRY)
        store.admit(2)
        store.remove(2)
        adm = store.try_admit(3)
        store.release(3, adm.token)
        clock.advance(days=2)
        store.purge()
    finally:
        for signal in (signals.operation_admitted, signals.operation_sealed, signals.operation_removed):
            signal.disconnect(receiver)
        signals.operations_purged.disconnect(dispatch_uid="t")
    assert events == [
        (signals.operation_admitted, 1, False),
        (signals.operation_admitted, 1, True),
        (signals.operation_sealed, 1, None),
        (signals.operation_admitted, 2, False),
        (signals.operation_removed, 2, "remove"),
        (signals.operation_admitted, 3, False),
        (signals.operation_removed, 3, "release"),
    ]
    assert purged[0]["expired"] == 1 and purged[0]["deleted"] == 0


@pytest.mark.django_db
def test_structured_logging(caplog):
    store = DjangoOperationStore(scope="log")
    with caplog.at_level(logging.DEBUG, logger="op_store"):
        adm = store.try_admit(1)
        store.seal_owned(1, adm.token, b"x", U32, U32_REGISTRY)
    events = [r.op_store["event"] for r in caplog.records if hasattr(r, "op_store")]
    assert events == ["admitted", "sealed"]


@pytest.mark.django_db
def test_schema_source_batches_and_closure():
    store = DjangoOperationStore()
    store.seal(1, b"x", ROOT, FULL)
    source = DatabaseSchemaSource()
    assert {s.id for s in source.closure(ROOT)} == CLOSURE_IDS
    assert set(source.get_schemas([ORDER.id, 0xDEAD])) == {ORDER.id}
    assert source.get_schema(ORDER.id) is source.get_schema(ORDER.id)  # memoised (immutable)


@pytest.mark.django_db
def test_lazy_export_from_the_package():
    import op_store.store as package

    assert package.DjangoOperationStore is DjangoOperationStore
    assert "DjangoOperationStore" in dir(package)
    with pytest.raises(AttributeError):
        _ = package.NoSuchThing


def test_clock_is_used_for_leases():
    clock = FakeClock()
    store = DjangoOperationStore(clock=clock)
    assert store.now() == clock.now


@pytest.mark.django_db(transaction=True)
def test_sibling_lives_for_a_request_and_no_longer():
    from django.core.signals import request_finished, request_started

    conn = connections["default"]
    if conn.vendor == "sqlite" and conn.is_in_memory_db():
        pytest.skip("Django never closes in-memory SQLite connections (that would drop the database)")
    store = DjangoOperationStore()
    sibling = admission_connections.sibling(conn)
    with transaction.atomic():
        store.try_admit(1)
    assert sibling.connection is None  # CONN_MAX_AGE = 0, outside a request: closed after use
    request_started.send(sender=None)
    try:
        with transaction.atomic():
            store.try_admit(2)
            store.try_admit(3)
        assert sibling.connection is not None  # reused within the request
    finally:
        request_finished.send(sender=None)
    assert sibling.connection is None


@pytest.mark.django_db(transaction=True)
def test_sibling_session_settings_are_left_alone_on_postgres():
    """The admission's lock_timeout is set per statement (tests/store/test_bounded_waits.py): a session SET
    would stick to whichever server connection a transaction-pooling proxy gave it."""
    conn = connections["default"]
    if conn.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    sibling = admission_connections.sibling(conn)
    try:
        with sibling.cursor() as cursor, conn.cursor() as own:
            cursor.execute("SHOW lock_timeout")
            own.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == own.fetchone()[0]
        assert ADMISSION_LOCK_TIMEOUT == "2000ms"
    finally:
        sibling.close()


@pytest.mark.django_db
def test_inside_testcase_a_lost_seal_rolls_back_the_callers_block_only(clock):
    store = DjangoOperationStore(clock=clock)
    old = store.try_admit(1, lease=timedelta(seconds=5))
    clock.advance(seconds=10)
    assert store.take_over(1, old.token).admitted
    with transaction.atomic():
        Counter.objects.create(name="side effect", value=1)
        with pytest.raises(OwnershipLostError):
            store.seal_owned(1, old.token, b"late", ROOT, FULL)  # new schemas: the joined-block path
        assert transaction.get_rollback()
    assert not Counter.objects.exists()  # the test's own transaction is still usable
    assert store.lookup(1) is OperationState.ADMITTED
    assert Schema.objects.count() == 0


# --- dialects, the test hook, the schema signal -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_portable_dialect_works_on_any_backend(monkeypatch, clock):
    """What a backend without its own dialect (MySQL, Oracle...) runs: INSERT, then SELECT on a conflict."""
    from op_store.store.orm import dialects

    monkeypatch.setattr(dialects, "DIALECTS", {})
    dialects.forget_dialects()
    try:
        store = DjangoOperationStore(clock=clock)
        assert type(dialects.dialect_for(connections["default"])) is dialects.Dialect
        first = store.try_admit(1, fingerprint=b"a")
        assert first.admitted
        again = store.try_admit(1, fingerprint=b"a")
        assert again.in_flight and again.token == first.token
        assert store.try_admit(1, fingerprint=b"b").conflict
        store.seal_owned(1, first.token, b"one", U32, U32_REGISTRY)
        assert store.try_admit(1).sealed.response == b"one"
        store.seal(2, b"two", U32, U32_REGISTRY)  # never admitted: inserted sealed
        store.seal(2, b"other", U32, U32_REGISTRY)  # the first reply stays
        assert store.get_sealed(2).response == b"two"
        with transaction.atomic():
            assert store.try_admit(3).admitted
            assert store.try_admit(3).in_flight
        adm = store.try_admit(4)
        assert store.release(4, adm.token) and store.lookup(4) is OperationState.UNKNOWN
    finally:
        dialects.forget_dialects()


@pytest.mark.django_db
def test_without_the_test_hook_a_testcase_block_counts_as_the_callers():
    from op_store.store.orm import in_caller_transaction, transactions

    conn = connections["default"]
    installed = transactions.ignored_blocks()  # conftest's: TestCase's blocks are not the caller's
    assert installed is not None and conn.in_atomic_block
    assert not in_caller_transaction(conn)
    ignore_atomic_blocks(None)
    try:
        assert in_caller_transaction(conn)
    finally:
        ignore_atomic_blocks(installed)
    with transaction.atomic():
        assert in_caller_transaction(conn)  # a block of the test's own code still counts


@pytest.mark.django_db
def test_deleting_schemas_sends_schemas_deleted():
    from op_store.models import schemas_deleted

    sent: list[dict] = []
    schemas_deleted.connect(lambda **kw: sent.append(kw), weak=False, dispatch_uid="test")
    try:
        DjangoOperationStore().seal(1, b"x", U32, U32_REGISTRY)
        Schema.objects.filter(pk=U32.type_id).delete()
        assert [(kw["sender"], kw["using"]) for kw in sent] == [(Schema, "default")]
        DjangoOperationStore().seal(2, b"x", U32, U32_REGISTRY)
        Schema.objects.get(pk=U32.type_id).delete()
        assert len(sent) == 2 and sent[1]["using"] == "default"
    finally:
        schemas_deleted.disconnect(dispatch_uid="test")


# --- what a fresh admission writes ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_fresh_admission_writes_the_token_lease_and_text_it_answers():
    """The row's token and values are drawn only when it is inserted: the row must hold what the
    admission answered, and what the caller passed (the key's NUL escaped as documented)."""
    store = DjangoOperationStore(scope="fresh-row")
    admission = store.try_admit(
        77, fingerprint=b"fp", lease=timedelta(seconds=42), method="POST /pay", key="k\x00", transactional=True
    )
    row = Operation.objects.get(scope="fresh-row", operation_id=77)
    assert admission.admitted and admission.token == row.token != 0
    assert row.lease_expires_at == admission.lease_expires_at
    assert row.lease_expires_at - row.created_at == timedelta(seconds=42)
    assert (row.state, row.method, row.key, row.transactional) == ("admitted", "POST /pay", "k\\x00", True)
    assert bytes(row.fingerprint) == blake3.blake3(b"fp").digest()
    again = store.try_admit(77, fingerprint=b"fp")
    assert again.in_flight and again.token == admission.token
