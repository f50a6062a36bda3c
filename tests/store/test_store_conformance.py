"""The OperationStore conformance suite: the same tests against every store (docs/architecture.md#store-rules).

Parametrized over ``InMemoryOperationStore`` and ``DjangoOperationStore`` on the database of the
run (SQLite by default; PostgreSQL with ``OP_STORE_TEST_DB=postgres`` — ``.ci/run`` runs both).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from op_store.store import (
    AdmissionOutcome,
    MissingSchemaError,
    OperationState,
    OwnershipLostError,
    SealedResponse,
    StoreStats,
)
from op_store.vox.schema import Concrete, PrimitiveType, SchemaRegistry, Var
from tests.support.stores import (
    CLOSURE_IDS,
    FULL,
    ORDER,
    POINT,
    PRIMS,
    ROOT,
    U32,
    U32_REGISTRY,
    VOX_ERROR,
    registry_without,
)

# Every test may touch the database (the ORM param); pytest-django sets the test database up only
# for tests that say so at collection time.
pytestmark = pytest.mark.django_db

U64_EDGES = [0, 1, 2**63 - 1, 2**63, 2**64 - 1]
LEASE = timedelta(seconds=30)


def schemas_of(store, ids):
    source = store.schema_source()
    return {i: source.get_schema(i) for i in ids}


# --- the six methods ------------------------------------------------------------------------------


def test_unknown_id(store):
    assert store.lookup(7) is OperationState.UNKNOWN
    assert store.get_sealed(7) is None


def test_admit_then_lookup(store):
    store.admit(7)
    assert store.lookup(7) is OperationState.ADMITTED
    assert store.get_sealed(7) is None
    store.admit(7)  # admitting twice changes nothing
    assert store.lookup(7) is OperationState.ADMITTED


def test_admit_never_downgrades_sealed(store):
    store.admit(1)
    store.seal(1, b"first", U32, U32_REGISTRY)
    store.admit(1)
    assert store.lookup(1) is OperationState.SEALED
    assert store.get_sealed(1) == SealedResponse(b"first", U32)


def test_get_sealed_returns_a_copy(store):
    buffer = bytearray(b"reply")
    store.admit(3)
    store.seal(3, buffer, ROOT, FULL)
    buffer[:] = b"XXXXX"  # the caller's buffer changes; the sealed reply does not
    sealed = store.get_sealed(3)
    assert sealed == SealedResponse(b"reply", ROOT)
    assert type(sealed.response) is bytes
    assert sealed.root_type == ROOT
    assert store.get_sealed(3) == sealed and store.get_sealed(3) is not sealed


def test_seal_stores_the_closure_deduplicated(store):
    store.admit(1)
    store.seal(1, b"\x00", ROOT, FULL)
    stored = schemas_of(store, FULL)
    assert {i for i, s in stored.items() if s is not None} == CLOSURE_IDS  # nothing outside the closure
    for schema_id in CLOSURE_IDS:
        assert stored[schema_id] == FULL[schema_id]
    # A second reply over the same types needs none of them from its registry: stored ones are
    # skipped without descending (deduplicated by hash).
    store.admit(2)
    store.seal(2, b"\x01", ROOT, SchemaRegistry())
    assert store.get_sealed(2) == SealedResponse(b"\x01", ROOT)
    assert store.stats()["schemas"] == len(CLOSURE_IDS)


def test_seal_stores_generic_args_of_the_root(store):
    # Concrete(Point) as an arg of a generic family: the arg's schema (and its i32) are stored too.
    from tests.support.stores import LIST

    root = Concrete(LIST.id, (Concrete(POINT.id),))
    store.seal(5, b"", root, FULL)
    assert store.schema_source().get_schema(POINT.id) == POINT
    assert store.schema_source().get_schema(LIST.id) == LIST
    assert store.schema_source().get_schema(ORDER.id) is None


def test_seal_without_admit(store):
    store.seal(9, b"done", U32, U32_REGISTRY)
    assert store.lookup(9) is OperationState.SEALED
    assert store.get_sealed(9) == SealedResponse(b"done", U32)


def test_sealed_is_absorbing(store):
    store.admit(4)
    store.seal(4, b"first", U32, U32_REGISTRY)
    store.seal(4, b"second", ROOT, FULL)  # sealed is absorbing: the first reply stays
    assert store.get_sealed(4) == SealedResponse(b"first", U32)
    store.remove(4)
    assert store.lookup(4) is OperationState.SEALED


def test_missing_schema_raises_and_stores_nothing(store):
    store.admit(5)
    with pytest.raises(MissingSchemaError) as info:
        store.seal(5, b"x", ROOT, registry_without(POINT.id))
    assert info.value.schema_id == POINT.id
    assert f"{POINT.id:016x}" in str(info.value)
    assert store.lookup(5) is OperationState.ADMITTED  # complete closure or nothing: still admitted
    assert store.get_sealed(5) is None
    assert all(s is None for s in schemas_of(store, FULL).values())  # not even the part it had
    store.seal(5, b"x", ROOT, FULL)  # a complete registry still works afterwards
    assert store.get_sealed(5) == SealedResponse(b"x", ROOT)


def test_missing_schema_deep_in_a_variant_payload(store):
    with pytest.raises(MissingSchemaError):
        store.seal(6, b"x", ROOT, registry_without(PRIMS[PrimitiveType.U16].id))  # inside VoxError::Detail
    assert store.lookup(6) is OperationState.UNKNOWN


def test_remove_only_admitted(store):
    store.admit(1)
    store.remove(1)
    assert store.lookup(1) is OperationState.UNKNOWN
    store.seal(2, b"x", U32, U32_REGISTRY)
    store.remove(2)
    assert store.lookup(2) is OperationState.SEALED
    store.remove(3)  # unknown: nothing happens
    assert store.lookup(3) is OperationState.UNKNOWN


@pytest.mark.parametrize("operation_id", U64_EDGES)
def test_u64_edges(store, operation_id):
    store.admit(operation_id)
    assert store.lookup(operation_id) is OperationState.ADMITTED
    store.seal(operation_id, operation_id.to_bytes(8, "little"), U32, U32_REGISTRY)
    assert store.get_sealed(operation_id).response == operation_id.to_bytes(8, "little")


def test_u64_edges_are_distinct(store):
    for i, operation_id in enumerate(U64_EDGES):
        store.seal(operation_id, bytes([i]), U32, U32_REGISTRY)
    for i, operation_id in enumerate(U64_EDGES):
        assert store.get_sealed(operation_id).response == bytes([i])


def test_scope_isolation(backend):
    alice, bob = backend.make("alice"), backend.make("bob")
    alice.admit(1)
    assert bob.lookup(1) is OperationState.UNKNOWN
    alice.seal(1, b"alice's", U32, U32_REGISTRY)
    assert bob.get_sealed(1) is None
    assert bob.try_admit(1).admitted
    bob.remove(1)
    assert alice.lookup(1) is OperationState.SEALED


def test_get_schema_after_a_restart(backend):
    first = backend.make("s")
    first.seal(1, b"x", ROOT, FULL)
    again = backend.restart("s")
    assert again.get_sealed(1) == SealedResponse(b"x", ROOT)
    for schema_id in CLOSURE_IDS:
        assert again.schema_source().get_schema(schema_id) == FULL[schema_id]
    assert again.schema_source().get_schema(0xDEAD) is None


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, 2**64, "1", 1.0, True, None])
def test_bad_ids(store, bad):
    for call in (
        lambda: store.admit(bad),
        lambda: store.lookup(bad),
        lambda: store.get_sealed(bad),
        lambda: store.seal(bad, b"x", U32, U32_REGISTRY),
        lambda: store.remove(bad),
        lambda: store.try_admit(bad),
    ):
        with pytest.raises((TypeError, ValueError)):
            call()
    assert store.stats()["total"] == 0


@pytest.mark.parametrize("bad", ["text", 5, [1, 2], None])
def test_response_must_be_bytes(store, bad):
    store.admit(1)
    with pytest.raises(TypeError, match="bytes"):
        store.seal(1, bad, U32, U32_REGISTRY)
    assert store.lookup(1) is OperationState.ADMITTED
    assert store.schema_source().get_schema(U32.type_id) is None


def test_bytes_like_responses(store):
    store.seal(1, memoryview(b"view"), U32, U32_REGISTRY)
    store.seal(2, bytearray(b"array"), U32, U32_REGISTRY)
    assert store.get_sealed(1).response == b"view"
    assert store.get_sealed(2).response == b"array"


@pytest.mark.parametrize("bad", [None, 5, "u32", Var("T")])
def test_root_type_must_be_a_concrete_typeref(store, bad):
    with pytest.raises((TypeError, ValueError)):
        store.seal(1, b"x", bad, U32_REGISTRY)
    assert store.lookup(1) is OperationState.UNKNOWN


def test_registry_must_be_a_schema_source(store):
    with pytest.raises(TypeError, match="SchemaSource"):
        store.seal(1, b"x", U32, {U32.type_id: "nope"})
    assert store.lookup(1) is OperationState.UNKNOWN


def test_bad_status_code_and_fingerprint(store):
    adm = store.try_admit(1)
    with pytest.raises(ValueError):
        store.seal_owned(1, adm.token, b"x", U32, U32_REGISTRY, status_code=1000)
    with pytest.raises(TypeError):
        store.try_admit(2, fingerprint="text")
    with pytest.raises(ValueError):
        store.try_admit(2, lease=timedelta(0))
    assert store.lookup(1) is OperationState.ADMITTED
    assert store.lookup(2) is OperationState.UNKNOWN


# --- try_admit, take_over, fenced seal, release ------------------------------------------------------


def test_try_admit_admitted_then_in_flight(store, clock):
    first = store.try_admit(1, fingerprint=b"fp", lease=LEASE, method="POST /pay", key="k-1")
    assert first.outcome is AdmissionOutcome.ADMITTED and first.admitted
    assert isinstance(first.token, int) and first.token > 0
    assert first.lease_expires_at == clock.now + LEASE
    again = store.try_admit(1, fingerprint=b"fp", lease=LEASE)
    assert again.in_flight
    assert again.token == first.token  # the current owner's token
    assert again.lease_expires_at == first.lease_expires_at
    assert store.lookup(1) is OperationState.ADMITTED


def test_try_admit_stale_after_the_lease(store, clock):
    first = store.try_admit(1, fingerprint=b"fp", lease=LEASE, transactional=True)
    clock.advance(seconds=29)
    assert store.try_admit(1, fingerprint=b"fp").in_flight
    clock.advance(seconds=2)
    stale = store.try_admit(1, fingerprint=b"fp")
    assert stale.stale and stale.token == first.token and stale.transactional


def test_try_admit_conflict_on_every_path(store, clock):
    adm = store.try_admit(1, fingerprint=b"a", lease=LEASE)
    assert store.try_admit(1, fingerprint=b"b").conflict  # in flight
    clock.advance(minutes=1)
    assert store.try_admit(1, fingerprint=b"b").conflict  # stale
    adm = store.take_over(1, adm.token, lease=LEASE)
    store.seal_owned(1, adm.token, b"ok", U32, U32_REGISTRY)
    assert store.try_admit(1, fingerprint=b"b").conflict  # sealed
    assert store.try_admit(1, fingerprint=b"a").is_sealed
    assert store.try_admit(1).is_sealed  # no fingerprint offered: nothing to compare


def test_try_admit_sealed_replays(store):
    adm = store.try_admit(1, fingerprint=b"fp")
    store.seal_owned(1, adm.token, b"reply", ROOT, FULL, status_code=201)
    replay = store.try_admit(1, fingerprint=b"fp")
    assert replay.outcome is AdmissionOutcome.SEALED and replay.is_sealed
    assert replay.sealed == SealedResponse(b"reply", ROOT, 201)


def test_expiry_tombstone_and_its_end(backend, clock):
    store = backend.make()
    adm = store.try_admit(1, fingerprint=b"fp")
    store.seal_owned(1, adm.token, b"reply", U32, U32_REGISTRY)
    store.seal(2, b"other", U32, U32_REGISTRY)
    clock.advance(hours=23)
    assert store.purge().expired == 0  # retention (24 h by default) not over
    clock.advance(hours=2)
    result = store.purge()
    assert (result.expired, result.deleted) == (2, 0)
    assert store.lookup(1) is OperationState.EXPIRED
    assert store.get_sealed(1) is None
    assert store.try_admit(1, fingerprint=b"fp").expired
    assert store.try_admit(1, fingerprint=b"other").conflict  # the fingerprint is kept
    store.admit(1)
    store.seal(1, b"again", U32, U32_REGISTRY)  # a tombstone is absorbing too
    store.remove(1)
    assert store.lookup(1) is OperationState.EXPIRED
    clock.advance(days=6)
    assert store.purge().deleted == 0
    clock.advance(days=2)
    assert store.purge().deleted == 2
    assert store.lookup(1) is OperationState.UNKNOWN
    assert store.try_admit(1).admitted
    # the schemas stay: they are shared and content-addressed
    assert store.schema_source().get_schema(U32.type_id) is not None


def test_purge_dry_run(store, clock):
    store.seal(1, b"x", U32, U32_REGISTRY)
    clock.advance(days=2)
    assert store.purge(dry_run=True).expired == 1
    assert store.lookup(1) is OperationState.SEALED


def test_take_over_a_stale_admission(store, clock):
    old = store.try_admit(1, fingerprint=b"fp", lease=LEASE)
    assert store.take_over(1, old.token, lease=LEASE).in_flight  # the lease is still live
    clock.advance(seconds=31)
    new = store.take_over(1, old.token, lease=LEASE, transactional=True)
    assert new.admitted and new.token != old.token and new.transactional
    assert new.lease_expires_at == clock.now + LEASE
    lost = store.take_over(1, old.token, lease=LEASE)  # a second taker with the old token
    assert lost.in_flight and lost.token == new.token
    # the old owner is fenced off; nothing written
    with pytest.raises(OwnershipLostError, match="nothing was written"):
        store.seal_owned(1, old.token, b"old", ROOT, FULL)
    assert store.lookup(1) is OperationState.ADMITTED
    assert store.schema_source().get_schema(ORDER.id) is None
    assert not store.release(1, old.token)
    store.seal_owned(1, new.token, b"new", U32, U32_REGISTRY)
    assert store.get_sealed(1).response == b"new"
    assert store.take_over(1, new.token).is_sealed


def test_take_over_of_a_vanished_admission_admits_afresh(store, clock):
    old = store.try_admit(1, lease=LEASE)
    assert store.release(1, old.token)
    again = store.take_over(1, old.token, lease=LEASE, fingerprint=b"fp")
    assert again.admitted
    assert store.try_admit(1, fingerprint=b"other").conflict


def test_seal_owned_refuses_a_wrong_or_spent_token(store):
    adm = store.try_admit(1)
    with pytest.raises(OwnershipLostError):
        store.seal_owned(1, adm.token + 1, b"x", U32, U32_REGISTRY)
    with pytest.raises(OwnershipLostError):
        store.seal_owned(2, adm.token, b"x", U32, U32_REGISTRY)  # never admitted
    assert store.lookup(2) is OperationState.UNKNOWN
    store.seal_owned(1, adm.token, b"x", U32, U32_REGISTRY)
    with pytest.raises(OwnershipLostError, match="already sealed"):
        store.seal_owned(1, adm.token, b"y", U32, U32_REGISTRY)
    assert store.get_sealed(1).response == b"x"


def test_seal_owned_missing_schema_keeps_the_admission(store):
    adm = store.try_admit(1)
    with pytest.raises(MissingSchemaError):
        store.seal_owned(1, adm.token, b"x", ROOT, registry_without(VOX_ERROR.id))
    assert store.lookup(1) is OperationState.ADMITTED
    assert store.try_admit(1).in_flight
    store.seal_owned(1, adm.token, b"x", ROOT, FULL)
    assert store.lookup(1) is OperationState.SEALED


def test_release(store):
    adm = store.try_admit(1)
    assert not store.release(1, adm.token + 1)
    assert store.release(1, adm.token)
    assert store.lookup(1) is OperationState.UNKNOWN
    assert not store.release(1, adm.token)
    adm = store.try_admit(1)
    assert adm.admitted
    store.seal_owned(1, adm.token, b"x", U32, U32_REGISTRY)
    assert not store.release(1, adm.token)
    assert store.lookup(1) is OperationState.SEALED


def test_release_stale(store, clock):
    store.try_admit(1, lease=LEASE)
    store.try_admit(2, lease=timedelta(hours=1))
    clock.advance(minutes=1)
    assert store.release_stale(dry_run=True) == 1
    assert store.release_stale() == 1
    assert store.lookup(1) is OperationState.UNKNOWN
    assert store.lookup(2) is OperationState.ADMITTED


def test_stats(store, clock):
    store.try_admit(1)
    store.seal(2, b"abc", U32, U32_REGISTRY)
    stats = store.stats()
    assert stats["operations"] == {"admitted": 1, "sealed": 1, "expired": 0}
    assert stats["total"] == 2 and stats["response_bytes"] == 3 and stats["schemas"] == 1


def test_stats_is_a_dataclass_and_reads_like_the_old_dict(store, clock):
    store.try_admit(1, lease=timedelta(seconds=1))
    store.seal(2, b"abcd", U32, U32_REGISTRY)
    clock.advance(seconds=2)
    stats = store.stats()
    assert isinstance(stats, StoreStats)
    assert (stats.stale, stats.total, stats.response_bytes, stats.schemas) == (1, 2, 4, 1)
    assert stats.operations == {"admitted": 1, "sealed": 1, "expired": 0}
    expected_keys = {
        "database",
        "operations",
        "total",
        "stale",
        "expired_due",
        "tombstones_due",
        "response_bytes",
        "schemas",
    }
    assert set(stats) == expected_keys and len(stats) == 8
    plain = stats.as_dict()
    assert type(plain) is dict and plain == dict(stats) and plain["total"] == 2
    assert json.loads(json.dumps(plain))["operations"]["sealed"] == 1
    with pytest.raises(KeyError):
        stats["as_dict"]
