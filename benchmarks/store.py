"""The operation stores: a full admit -> seal -> get_sealed cycle and the replay lookup.

Per database alias (``sqlite``, and ``postgres`` and ``mysql`` when they are reachable), the
implementations run interleaved in the same rounds:

- ``django``: ``DjangoOperationStore`` (try_admit, seal_owned with already-stored schemas, get_sealed);
- ``memory``: ``InMemoryOperationStore`` (the same calls; no database at all);
- ``raw``: the floor, hand-written SQL through the DB driver directly (sqlite3 / psycopg / mysqlclient): a committed
  INSERT, a committed UPDATE writing a 200-byte reply, and a SELECT of it. On PostgreSQL with
  psycopg's defaults, which prepare a statement on its 5th execution (server-side plans reused);
- ``raw, unprepared`` (PostgreSQL): the same through psycopg configured as Django configures it
  (``prepare_threshold=None``: no prepared statements, so every statement is parsed and planned
  again; Django turns them off so that connection poolers keep working). This is the floor an ORM
  store on Django's default connection can actually reach.

The replay lookup compares the lifecycle's call (``try_admit`` on a sealed id) with the raw SELECT,
and with a plain SELECT through Django's cursor (``get_sealed``) and a ``SELECT 1`` round trip, to
show where the time goes. Statements per operation (``CaptureQueriesContext``) are reported next to
the times. The admission inside a caller's ``atomic()`` block (on the sibling connection) is
measured too, with ``CONN_MAX_AGE = 0`` (a connection per admission) and with a persistent sibling.

Scale (1k / 100k / 1M rows), purge and the shared-schema seal are in :mod:`benchmarks.scale`.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Callable
from typing import Any

from .harness import Row, measure, row, timing_rows

REPLY = bytes(range(200))
FINGERPRINT = b"POST /pay 1234"
FINGERPRINT_DIGEST = bytes(32)


def _schemas() -> tuple[Any, Any]:
    from op_store.vox.schema import (
        Concrete,
        FieldSchema,
        PrimitiveKind,
        PrimitiveType,
        Schema,
        SchemaRegistry,
        StructKind,
    )

    u16 = Schema(0xB0_0001, PrimitiveKind(PrimitiveType.U16))
    raw = Schema(0xB0_0002, PrimitiveKind(PrimitiveType.BYTES))
    reply = Schema(
        0xB0_0003,
        StructKind("HttpReply", (FieldSchema("status", Concrete(u16.id)), FieldSchema("body", Concrete(raw.id)))),
    )
    return Concrete(reply.id), SchemaRegistry([u16, raw, reply])


class RawBaseline:
    """The floor: the same three statements through the driver, each committed (autocommit).

    ``prepared`` (PostgreSQL only): psycopg's default ``prepare_threshold`` (5) when True, none
    (Django's setting) when False.
    """

    def __init__(self, alias: str, *, prepared: bool = True) -> None:
        from django.db import connections

        settings_dict = connections[alias].settings_dict
        self.vendor = connections[alias].vendor
        if self.vendor == "sqlite":
            self.conn: Any = sqlite3.connect(settings_dict["NAME"], isolation_level=None, check_same_thread=False)
            m = "?"
        elif self.vendor == "mysql":
            import MySQLdb

            self.conn = MySQLdb.connect(
                host=settings_dict["HOST"],
                port=int(settings_dict["PORT"]),
                user=settings_dict["USER"],
                password=settings_dict["PASSWORD"],
                database=settings_dict["NAME"],
                charset="utf8mb4",
                autocommit=True,
            )
            m = "%s"
        else:
            import psycopg

            extra: dict[str, Any] = {} if prepared else {"prepare_threshold": None}
            self.conn = psycopg.connect(
                dbname=settings_dict["NAME"],
                host=settings_dict["HOST"],
                port=settings_dict["PORT"],
                user=settings_dict["USER"],
                autocommit=True,
                options=settings_dict.get("OPTIONS", {}).get("options", ""),
                **extra,
            )
            m = "%s"
        key = "`key`" if self.vendor == "mysql" else "key"  # a reserved word on MySQL
        self.insert = (
            f"INSERT INTO op_store_operation (scope, operation_id, state, method, {key}, token, transactional, "
            f"created_at, lease_expires_at) VALUES ({m}, {m}, 'admitted', '', '', {m}, FALSE, {m}, {m})"
        )
        self.update = (
            f"UPDATE op_store_operation SET state = 'sealed', response = {m}, response_size = {m} "
            f"WHERE scope = {m} AND operation_id = {m} AND state = 'admitted' AND token = {m}"
        )
        self.select = f"SELECT state, response FROM op_store_operation WHERE scope = {m} AND operation_id = {m}"

    def _now(self) -> Any:
        from django.utils import timezone

        now = timezone.now()
        return now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.vendor in ("sqlite", "mysql") else now

    def cycle(self, operation_id: int, scope: str = "raw") -> bytes:
        now = self._now()
        cur = self.conn.cursor()
        cur.execute(self.insert, (scope, operation_id, 12345, now, now))
        cur.execute(self.update, (REPLY, len(REPLY), scope, operation_id, 12345))
        cur.execute(self.select, (scope, operation_id))
        return bytes(cur.fetchone()[1])

    def replay(self, operation_id: int, scope: str = "raw") -> bytes:
        cur = self.conn.cursor()
        cur.execute(self.select, (scope, operation_id))
        return bytes(cur.fetchone()[1])

    def close(self) -> None:
        self.conn.close()


class RawStoreStatements:
    """op_store's own statements (the same SQL text, columns and guards) run through the driver
    directly: what the ORM store would cost without Django's cursor and the store's Python.

    SQLite: SELECT, INSERT .. RETURNING, the guarded seal UPDATE, SELECT. MySQL: SELECT, INSERT
    IGNORE, the same UPDATE and SELECT. PostgreSQL: the admission CTE, the guarded seal UPDATE,
    SELECT; ``prepared`` as in :class:`RawBaseline`.
    """

    def __init__(self, alias: str, *, prepared: bool = True) -> None:
        from django.db import connections

        from op_store.store.orm import dialect_for

        self.base = RawBaseline(alias, prepared=prepared)
        self.conn = self.base.conn
        self.sql = dialect_for(connections[alias])
        self.vendor = self.base.vendor
        q = (lambda text: text.replace("%s", "?")) if self.vendor == "sqlite" else (lambda text: text)
        self.select_row = q(self.sql.select_row)
        self.reads_first = self.vendor in ("sqlite", "mysql")
        self.admit = q(self.sql.insert_ignore if self.vendor == "mysql" else self.sql.admit_statement)
        self.seal = q(self.sql.seal_owned + " AND " + self.sql.exists_schema)
        self.select_sealed = q(self.sql.select_sealed)

    def cycle(self, operation_id: int, scope: str, root: Any, schema_id: int) -> bytes:
        from datetime import timedelta

        from django.utils import timezone

        from op_store.store.orm.dialects import INSERT_COLUMNS, SEAL_COLUMNS
        from op_store.vox.ids import u64_to_i64

        sql, now = self.sql, timezone.now()
        key = [scope, u64_to_i64(operation_id)]
        values = {
            "scope": scope,
            "operation_id": operation_id,
            "state": "admitted",
            "method": "",
            "key": "",
            "fingerprint": FINGERPRINT_DIGEST,
            "token": 12345,
            "transactional": False,
            "created_at": now,
            "lease_expires_at": now + timedelta(seconds=60),
        }
        insert = [sql.prep(name, values[name]) for name in INSERT_COLUMNS]
        cur = self.conn.cursor()
        if self.reads_first:
            cur.execute(self.select_row, key)
            assert cur.fetchone() is None
            cur.execute(self.admit, insert)
        else:
            cur.execute(self.admit, sql.admit_params(insert, key))
        cur.fetchall()
        sealed = {
            "state": "sealed",
            "response": REPLY,
            "root_type": None,
            "response_size": len(REPLY),
            "status_code": 201,
            "sealed_at": now,
            "expires_at": now + timedelta(days=1),
        }
        params = [sql.prep_root_type(root) if n == "root_type" else sql.prep(n, sealed[n]) for n in SEAL_COLUMNS]
        cur.execute(self.seal, [*params, *key, "admitted", 12345, u64_to_i64(schema_id)])
        assert cur.rowcount == 1
        cur.execute(self.select_sealed, key)
        return bytes(cur.fetchone()[1])

    def close(self) -> None:
        self.base.close()


def statements(alias: str, fn: Callable[[], object]) -> tuple[int, int]:
    """(statements, transaction-control statements) one call of ``fn`` issues on ``alias``."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[alias]) as captured:
        fn()
    sqls = [q["sql"].lstrip().upper() for q in captured.captured_queries]
    control = sum(s.startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")) for s in sqls)
    return len(sqls) - control, control


def _select_one(alias: str) -> Callable[[], object]:
    from django.db import connections

    def call() -> object:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()

    return call


def _cycles(alias: str, quick: bool) -> list[Row]:
    from op_store.store import DjangoOperationStore, InMemoryOperationStore

    root, registry = _schemas()
    group = f"store/{alias}"
    django_store = DjangoOperationStore(scope=f"bench-{alias}", using=alias)
    memory_store = InMemoryOperationStore()
    raws = {"raw": RawBaseline(alias)}
    if alias.startswith("postgres"):
        raws["raw, unprepared"] = RawBaseline(alias, prepared=False)
    ids = itertools.count(1)
    same_sql = {"raw, op_store's statements": RawStoreStatements(alias)}
    if alias.startswith("postgres"):
        same_sql["raw, op_store's statements, unprepared"] = RawStoreStatements(alias, prepared=False)
    first = next(ids)  # store the reply type's schemas first: the seal's UPDATE guards on them
    adm = django_store.try_admit(first)
    assert adm.token is not None
    django_store.seal_owned(first, adm.token, REPLY, root, registry)
    schema_id = root.type_id

    def cycle_of(store: Any) -> Callable[[], object]:
        def cycle() -> object:
            op = next(ids)
            adm = store.try_admit(op, fingerprint=FINGERPRINT)
            store.seal_owned(op, adm.token, REPLY, root, registry, status_code=201)
            return store.get_sealed(op)

        return cycle

    django_cycle = cycle_of(django_store)
    prepared_store = function_store = None
    if alias == "postgres":
        prepared_store = DjangoOperationStore(scope=f"bench-{alias}", using=alias, prepared=True)
        function_store = DjangoOperationStore(scope=f"bench-{alias}", using=alias, admission_function=True)

    def memory_cycle() -> object:
        op = next(ids)
        adm = memory_store.try_admit(op, fingerprint=FINGERPRINT)
        memory_store.seal_owned(op, adm.token, REPLY, root, registry, status_code=201)  # type: ignore[arg-type]
        return memory_store.get_sealed(op)

    def raw_cycle(raw: RawBaseline) -> Callable[[], object]:
        return lambda: raw.cycle(next(ids))

    rounds, block = (5, 40) if quick else (7, 100)
    rows: list[Row] = []
    try:
        cases: dict[str, Callable[[], object]] = {name: raw_cycle(raw) for name, raw in raws.items()}
        for name, same in same_sql.items():
            cases[name] = functools.partial(lambda s: s.cycle(next(ids), f"same-{alias}", root, schema_id), same)
        cases |= {"django": django_cycle, "memory": memory_cycle}
        if prepared_store is not None:
            cases["django, prepared statements"] = cycle_of(prepared_store)
        if function_store is not None:
            cases["django, admission function"] = cycle_of(function_store)
        medians = measure(cases, rounds=rounds, block=block)
        rows += timing_rows(
            group,
            {f"admit+seal+get cycle: {k}": v for k, v in medians.items()},
            baseline="admit+seal+get cycle: raw",
        )
        for name, note in (
            ("raw, unprepared", "the floor on Django's driver settings"),
            ("raw, op_store's statements", "the same SQL through the driver: ORM + Python overhead"),
            ("raw, op_store's statements, unprepared", "the same SQL, Django's driver settings"),
        ):
            if name in medians:
                rows.append(
                    row(
                        group,
                        f"admit+seal+get cycle: django / {name}",
                        medians["django"] / medians[name],
                        "ratio",
                        note,
                    )
                )
        for case, against, note in (
            ("django, prepared statements", "raw, op_store's statements", "OP_STORE['PREPARED_STATEMENTS']"),
            ("django, admission function", "django", "OP_STORE['ADMISSION_FUNCTION'] vs the CTE, both unprepared"),
        ):
            if case in medians:
                rows.append(
                    row(
                        group,
                        f"admit+seal+get cycle: {case} / {against}",
                        medians[case] / medians[against],
                        "ratio",
                        note,
                    )
                )
        n, control = statements(alias, django_cycle)
        rows.append(row(group, "statements per cycle: django", n, "stmts", f"+{control} transaction control"))
        rows.append(row(group, "statements per cycle: raw", 3, "stmts", "by construction, 2 commits"))

        replay_id = next(ids)
        adm = django_store.try_admit(replay_id, fingerprint=FINGERPRINT)
        django_store.seal_owned(replay_id, adm.token, REPLY, root, registry)  # type: ignore[arg-type]
        adm = memory_store.try_admit(replay_id, fingerprint=FINGERPRINT)
        memory_store.seal_owned(replay_id, adm.token, REPLY, root, registry)  # type: ignore[arg-type]
        raws["raw"].cycle(replay_id)
        lookups: dict[str, Callable[[], object]] = {
            name: functools.partial(raw.replay, replay_id) for name, raw in raws.items()
        }
        lookups |= {
            "django (try_admit)": lambda: django_store.try_admit(replay_id, fingerprint=FINGERPRINT),
            "django (get_sealed: a plain SELECT)": lambda: django_store.get_sealed(replay_id),
            "django (peek: the read-first SELECT)": lambda: django_store.peek(replay_id, fingerprint=FINGERPRINT),
            **(
                {
                    "django, prepared statements (try_admit)": lambda: prepared_store.try_admit(
                        replay_id, fingerprint=FINGERPRINT
                    )
                }
                if prepared_store is not None
                else {}
            ),
            **(
                {
                    "django, admission function (try_admit)": lambda: function_store.try_admit(
                        replay_id, fingerprint=FINGERPRINT
                    )
                }
                if function_store is not None
                else {}
            ),
            "memory (try_admit)": lambda: memory_store.try_admit(replay_id, fingerprint=FINGERPRINT),
            "SELECT 1 through Django's cursor": _select_one(alias),
        }
        medians = measure(lookups, rounds=rounds, block=block * 3)
        rows += timing_rows(
            group, {f"replay lookup: {k}": v for k, v in medians.items()}, baseline="replay lookup: raw"
        )
        if "django, admission function (try_admit)" in medians:
            peek = medians["django (peek: the read-first SELECT)"]
            rows += [
                row(
                    group,
                    f"replay lookup: {name} / django (peek: the read-first SELECT)",
                    medians[name] / peek,
                    "ratio",
                )
                for name in ("django (try_admit)", "django, admission function (try_admit)")
            ]
        n, control = statements(alias, lambda: django_store.try_admit(replay_id, fingerprint=FINGERPRINT))
        rows.append(row(group, "statements per replay lookup: django", n, "stmts", f"+{control} transaction control"))
        if function_store is not None:
            n, control = statements(alias, lambda: function_store.try_admit(replay_id, fingerprint=FINGERPRINT))
            rows.append(
                row(
                    group,
                    "statements per replay lookup: django, admission function",
                    n,
                    "stmts",
                    f"+{control} transaction control",
                )
            )
        if alias.startswith("postgres"):
            rows.append(
                row(
                    group,
                    "replay lookup assigns a transaction id",
                    _assigns_xid(alias, django_store, replay_id),
                    "0/1",
                    "0: its commit writes no WAL (commits nothing)",
                )
            )
    finally:
        for raw in raws.values():
            raw.close()
        for same in same_sql.values():
            same.close()
    rows += _admissions_in_atomic(alias, django_store, ids, rounds, block)
    return rows


def _assigns_xid(alias: str, store: Any, operation_id: int) -> int:
    """PostgreSQL: run the admission statement on a sealed id in a transaction, then ask whether it
    assigned a transaction id (only a statement that wrote a row does; without one, COMMIT writes
    nothing to the WAL)."""
    from django.db import connections, transaction

    from op_store.store.orm import dialect_for
    from op_store.store.orm.dialects import INSERT_COLUMNS

    conn = connections[alias]
    sql = dialect_for(conn)
    now = store.now()
    values = {
        "scope": store.scope,
        "operation_id": operation_id,
        "state": "admitted",
        "method": "",
        "key": "",
        "fingerprint": None,
        "token": 1,
        "transactional": False,
        "created_at": now,
        "lease_expires_at": now,
    }
    insert = [sql.prep(name, values[name]) for name in INSERT_COLUMNS]
    params = sql.admit_params(insert, sql.key(store.scope, operation_id))
    with transaction.atomic(using=alias), conn.cursor() as cursor:
        cursor.execute(sql.admit_statement, params)
        assert cursor.fetchall(), "the operation should exist"
        cursor.execute("SELECT pg_current_xact_id_if_assigned()")
        assigned = cursor.fetchone()[0] is not None
        transaction.set_rollback(True, using=alias)
    return int(assigned)


def _admissions_in_atomic(alias: str, store: Any, ids: itertools.count[int], rounds: int, block: int) -> list[Row]:
    """A fresh try_admit in autocommit vs inside ``atomic()`` (on the sibling connection)."""
    from django.db import connections, transaction

    from op_store.store.orm import admission_connections

    conn = connections[alias]
    admission_connections.reset()
    sibling = admission_connections.sibling(conn)

    def admit_in_atomic() -> object:
        with transaction.atomic(using=alias):
            return store.try_admit(next(ids))

    def admit_plain() -> object:
        return store.try_admit(next(ids))

    try:
        sibling.settings_dict["CONN_MAX_AGE"] = 0
        medians = measure(
            {"autocommit": admit_plain, "in atomic, sibling reconnecting": admit_in_atomic},
            rounds=rounds,
            block=max(block // 3, 5),
        )
        sibling.settings_dict["CONN_MAX_AGE"] = None
        medians["in atomic, persistent sibling"] = measure({"x": admit_in_atomic}, rounds=rounds, block=block)["x"]
    finally:
        sibling.close()
    return timing_rows(
        f"store/{alias}",
        {f"try_admit {k}": v for k, v in medians.items()},
        baseline="try_admit autocommit",
        note="fresh id",
    )


def run(quick: bool) -> list[Row]:
    from .djangosetup import setup

    aliases = setup()
    rows: list[Row] = []
    for alias in aliases:
        rows += _cycles(alias, quick)
    return rows
