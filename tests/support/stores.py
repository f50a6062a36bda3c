"""Shared pieces of the store tests: hand-built schemas and the store backends (the fake clock is op_store.testing's).

The schemas use arbitrary ids (the store contract does not care how a hash was computed), built
with the classes of ``op_store.vox.schema`` so that these tests do not depend on vox hashing.
"""

from __future__ import annotations

import os

import pytest

from op_store.testing import FakeClock
from op_store.vox.schema import (
    ArrayKind,
    ChannelDirection,
    ChannelKind,
    Concrete,
    EnumKind,
    FieldSchema,
    ListKind,
    MapKind,
    NewtypePayload,
    OptionKind,
    PrimitiveKind,
    PrimitiveType,
    Schema,
    SchemaRegistry,
    StructKind,
    StructPayload,
    TupleKind,
    TuplePayload,
    UnitPayload,
    Var,
    VariantSchema,
)

ORM_PARAM = f"orm-{os.environ.get('OP_STORE_TEST_DB', 'sqlite')}"
#: On PostgreSQL the ORM store runs the suite a second time with its statements prepared.
PREPARED_PARAM = "orm-postgres-prepared"
#: On PostgreSQL (also behind PgBouncer) the ORM store runs the suite again admitting through the
#: admission function (``OP_STORE["ADMISSION_FUNCTION"]``, migration 0003).
FUNCTION_PARAM = "orm-postgres-function"
ON_POSTGRES = os.environ.get("OP_STORE_TEST_DB") in ("postgres", "pgbouncer")
#: A database server (PostgreSQL or MySQL/MariaDB): real concurrent connections.
ON_SERVER = ON_POSTGRES or os.environ.get("OP_STORE_TEST_DB") == "mysql"
#: Prepared statements need a server session of their own: not behind PgBouncer in transaction
#: pooling, where op_store falls back to unprepared statements (tests/store/test_store_hostile.py).
PREPARES = os.environ.get("OP_STORE_TEST_DB") == "postgres"


# --- schemas ------------------------------------------------------------------------------------

PRIMS = {p: Schema(0x1000 + i, PrimitiveKind(p)) for i, p in enumerate(PrimitiveType)}


def c(schema: Schema, *args: Concrete) -> Concrete:
    return Concrete(schema.id, tuple(args))


def prim(p: PrimitiveType) -> Concrete:
    return c(PRIMS[p])


LIST = Schema(0x2001, ListKind(Var("T")), ("T",))
OPTION = Schema(0x2002, OptionKind(Var("T")), ("T",))
MAP = Schema(0x2003, MapKind(Var("K"), Var("V")), ("K", "V"))
TUPLE2 = Schema(0x2004, TupleKind((Var("T0"), Var("T1"))), ("T0", "T1"))
ARRAY = Schema(0x2005, ArrayKind(Var("T"), 4), ("T",))
CHANNEL = Schema(0x2006, ChannelKind(ChannelDirection.TX, Var("T")), ("T",))
RESULT = Schema(
    0x2007,
    EnumKind(
        "Result", (VariantSchema("Ok", 0, NewtypePayload(Var("T"))), VariantSchema("Err", 1, NewtypePayload(Var("E"))))
    ),
    ("T", "E"),
)
POINT = Schema(
    0x3001,
    StructKind("Point", (FieldSchema("x", prim(PrimitiveType.I32)), FieldSchema("y", prim(PrimitiveType.I32)))),
)
VOX_ERROR = Schema(
    0x3002,
    EnumKind(
        "VoxError",
        (
            VariantSchema("User", 0, NewtypePayload(Var("E"))),
            VariantSchema("Unknown", 1, UnitPayload()),
            VariantSchema("InvalidPayload", 2, NewtypePayload(prim(PrimitiveType.STRING))),
            VariantSchema("Pair", 3, TuplePayload((prim(PrimitiveType.U8), prim(PrimitiveType.BYTES)))),
            VariantSchema("Detail", 4, StructPayload((FieldSchema("code", prim(PrimitiveType.U16)),))),
        ),
    ),
    ("E",),
)
ORDER = Schema(
    0x3003,
    StructKind(
        "Order",
        (
            FieldSchema("points", c(LIST, c(POINT))),
            FieldSchema("tags", c(MAP, prim(PrimitiveType.STRING), c(OPTION, prim(PrimitiveType.U64)))),
            FieldSchema("pair", c(TUPLE2, prim(PrimitiveType.BOOL), c(ARRAY, prim(PrimitiveType.F64)))),
            FieldSchema("feed", c(CHANNEL, prim(PrimitiveType.CHAR)), required=False),
        ),
    ),
)
#: ``Result<Order, VoxError<never>>``: generic args at the root and nested kinds of every shape.
ROOT = c(RESULT, c(ORDER), c(VOX_ERROR, prim(PrimitiveType.NEVER)))
CLOSURE_IDS = {
    RESULT.id,
    ORDER.id,
    VOX_ERROR.id,
    LIST.id,
    POINT.id,
    MAP.id,
    OPTION.id,
    TUPLE2.id,
    ARRAY.id,
    CHANNEL.id,
    *(
        PRIMS[p].id
        for p in (
            PrimitiveType.NEVER,
            PrimitiveType.I32,
            PrimitiveType.STRING,
            PrimitiveType.U64,
            PrimitiveType.BOOL,
            PrimitiveType.F64,
            PrimitiveType.CHAR,
            PrimitiveType.U8,
            PrimitiveType.BYTES,
            PrimitiveType.U16,
        )
    ),
}
#: Every schema above plus unrelated ones (u32, i64...) that no closure needs.
FULL = SchemaRegistry([*PRIMS.values(), LIST, OPTION, MAP, TUPLE2, ARRAY, CHANNEL, RESULT, POINT, VOX_ERROR, ORDER])
#: A tiny reply type for tests that only need *some* root.
U32 = prim(PrimitiveType.U32)
U32_REGISTRY = SchemaRegistry([PRIMS[PrimitiveType.U32]])


def registry_without(*ids: int) -> SchemaRegistry:
    return SchemaRegistry(s for s in FULL.values() if s.id not in ids)


def fresh_structs(n: int, base: int = 0x9000) -> tuple[Concrete, SchemaRegistry]:
    """A root struct with ``n - 1`` new struct fields (``n`` new schemas) over a known primitive."""
    leaves = [Schema(base + i + 1, StructKind(f"Leaf{i}", (FieldSchema("v", U32),))) for i in range(max(n - 1, 0))]
    root = Schema(base, StructKind("Root", tuple(FieldSchema(f"f{i}", c(s)) for i, s in enumerate(leaves))))
    return c(root), SchemaRegistry([root, *leaves, PRIMS[PrimitiveType.U32]])


# --- backends -----------------------------------------------------------------------------------


class MemoryBackend:
    kind = "memory"

    def __init__(self, clock: FakeClock) -> None:
        from op_store.store import InMemoryOperationStore

        self.clock = clock
        self._stores: dict[str, InMemoryOperationStore] = {}
        self._cls = InMemoryOperationStore

    def make(self, scope: str = ""):
        # The in-memory store has no scopes: one store per scope is what "scope" means for it.
        if scope not in self._stores:
            self._stores[scope] = self._cls(self.clock)
        return self._stores[scope]

    def restart(self, scope: str = ""):
        pytest.skip("the in-memory store does not survive a restart (by design)")


class OrmBackend:
    kind = "orm"

    def __init__(
        self, clock: FakeClock, *, prepared: bool | None = None, admission_function: bool | None = None
    ) -> None:
        from op_store.store import DjangoOperationStore

        self.clock = clock
        self.prepared = prepared
        self.admission_function = admission_function
        self._cls = DjangoOperationStore

    def make(self, scope: str = ""):
        return self._cls(
            scope=scope, clock=self.clock, prepared=self.prepared, admission_function=self.admission_function
        )

    def restart(self, scope: str = ""):
        from op_store.store.orm import schema_cache

        schema_cache.clear()  # a new process knows nothing
        return self.make(scope)
