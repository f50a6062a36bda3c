"""The store's hand-written SQL: statements per backend, parameter adaptation, row conversion.

Apart from the store so that the dialect differences (PostgreSQL, SQLite, others) and the per-row
conversion live in one place; see "Statements" in :mod:`op_store.store.orm` for what each does.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

from op_store.models import Operation, Schema
from op_store.vox.ids import u64_to_i64
from op_store.vox.schema import TypeRef

from .base import Admission, OperationState, SealedResponse
from .common import classify_existing

_ROW = ("state", "token", "fingerprint", "lease_expires_at", "transactional", "response", "root_type", "status_code")
_INSERT = (
    "scope",
    "operation_id",
    "state",
    "method",
    "key",
    "fingerprint",
    "token",
    "transactional",
    "created_at",
    "lease_expires_at",
)
_SEAL = ("state", "response", "root_type", "response_size", "status_code", "sealed_at", "expires_at")
_INSERT_SEALED = tuple(n for n in _INSERT if n != "state") + _SEAL
_DATETIMES = frozenset({"created_at", "lease_expires_at", "sealed_at", "expires_at"})
#: Columns whose values the field must adapt (u64 -> i64, datetimes, bytes, JSON).
_ADAPTED = frozenset(
    {
        "operation_id",
        "fingerprint",
        "response",
        "root_type",
        "created_at",
        "lease_expires_at",
        "sealed_at",
        "expires_at",
    }
)


class _Sql:
    """The statements on one connection's backend, with parameter adaptation and row conversion."""

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        qn = conn.ops.quote_name
        meta = Operation._meta
        self.conn = weakref.proxy(conn)
        self.vendor = conn.vendor
        self.fields = {f.name: f for f in meta.concrete_fields}
        col = {name: qn(str(f.column)) for name, f in self.fields.items()}
        t = qn(meta.db_table)
        st = qn(Schema._meta.db_table)
        self.schema_pk = f"{st}.{qn(str(Schema._meta.get_field('id').column))}"
        self.schema_table = st
        where = f"{col['scope']} = %s AND {col['operation_id']} = %s"
        self.where = where
        self.col = col
        self.table = t
        row = ", ".join(col[n] for n in _ROW)
        cols = ", ".join(col[n] for n in _INSERT)
        marks = ", ".join(["%s"] * len(_INSERT))
        conflict = f"({col['scope']}, {col['operation_id']})"
        self.select_row = f"SELECT {row} FROM {t} WHERE {where}"
        self.select_state = f"SELECT {col['state']} FROM {t} WHERE {where}"
        self.select_sealed = (
            f"SELECT {col['state']}, {col['response']}, {col['root_type']}, {col['status_code']} FROM {t} WHERE {where}"
        )
        self.insert = f"INSERT INTO {t} ({cols}) VALUES ({marks})"
        if self.vendor == "postgresql":
            self.admit = (
                f"WITH ins AS ({self.insert} ON CONFLICT {conflict} DO NOTHING RETURNING {row}) "
                f"SELECT TRUE, {row} FROM ins UNION ALL SELECT FALSE, {row} FROM {t} WHERE {where}"
            )
        elif self.vendor == "sqlite":
            self.admit = f"{self.insert} ON CONFLICT {conflict} DO NOTHING RETURNING {row}"
        else:
            self.admit = ""
        sealed_cols = ", ".join(col[n] for n in _INSERT_SEALED)
        sealed_marks = ", ".join(["%s"] * len(_INSERT_SEALED))
        self.insert_sealed = f"INSERT INTO {t} ({sealed_cols}) VALUES ({sealed_marks})"
        self.insert_sealed_ignore = (
            f"{self.insert_sealed} ON CONFLICT {conflict} DO NOTHING" if self.vendor in ("postgresql", "sqlite") else ""
        )
        self.take_over = (
            f"UPDATE {t} SET {col['token']} = %s, {col['lease_expires_at']} = %s, {col['transactional']} = %s "
            f"WHERE {where} AND {col['state']} = %s AND {col['token']} = %s AND {col['lease_expires_at']} < %s"
        )
        sets = ", ".join(f"{col[n]} = %s" for n in _SEAL)
        self.seal_owned = f"UPDATE {t} SET {sets} WHERE {where} AND {col['state']} = %s AND {col['token']} = %s"
        self.seal_admitted = f"UPDATE {t} SET {sets} WHERE {where} AND {col['state']} = %s"
        self.exists_schema = f"EXISTS (SELECT 1 FROM {st} WHERE {self.schema_pk} = %s)"
        self.delete_owned = f"DELETE FROM {t} WHERE {where} AND {col['state']} = %s AND {col['token']} = %s"
        self.delete_admitted = f"DELETE FROM {t} WHERE {where} AND {col['state']} = %s"
        if self.vendor == "postgresql":  # never wait on a row another transaction holds
            pk = col["id"]
            self.delete_owned_nowait = (
                f"DELETE FROM {t} WHERE {pk} IN (SELECT {pk} FROM {t} WHERE {where} AND {col['state']} = %s "
                f"AND {col['token']} = %s FOR UPDATE SKIP LOCKED)"
            )
            self.delete_admitted_nowait = (
                f"DELETE FROM {t} WHERE {pk} IN (SELECT {pk} FROM {t} WHERE {where} AND {col['state']} = %s "
                f"FOR UPDATE SKIP LOCKED)"
            )
        else:
            self.delete_owned_nowait = self.delete_owned
            self.delete_admitted_nowait = self.delete_admitted
        self._converters = {name: self._field_converters(conn, name) for name in self.fields}
        self._root_params: dict[TypeRef, Any] = {}

    def _field_converters(self, conn: BaseDatabaseWrapper, name: str) -> tuple[Any, list[Any]]:
        col = self.fields[name].get_col(Operation._meta.db_table)
        return col, [*conn.ops.get_db_converters(col), *col.get_db_converters(conn)]

    def prep(self, name: str, value: Any) -> Any:
        """``value`` adapted for this backend by the model field (plain text and ints pass as they are).

        An aware datetime (what the store's clock gives) goes straight to the backend's adapter, as
        ``DateTimeField.get_db_prep_value`` would send it after checks that only naive values need.
        """
        if value is None or (name not in _ADAPTED and type(value) in (str, int, bool)):
            return value
        if name in _DATETIMES and type(value) is datetime and value.tzinfo is not None and settings.USE_TZ:
            return self.conn.ops.adapt_datetimefield_value(value)
        return self.fields[name].get_db_prep_value(value, connection=self.conn, prepared=False)

    def prep_root_type(self, root: TypeRef) -> Any:
        """The adapted ``root_type`` column value of ``root``, built once per distinct root type."""
        found = self._root_params.get(root)
        if found is None:
            found = self.prep("root_type", root.to_json())
            if len(self._root_params) >= _ROOT_TYPES_MAX:
                self._root_params.clear()
            self._root_params[root] = found
        return found

    def convert(self, name: str, value: Any) -> Any:
        col, converters = self._converters[name]
        for converter in converters:
            value = converter(value, col, self.conn)
        return value

    def key(self, scope: str, operation_id: int) -> list[Any]:
        return [scope, u64_to_i64(operation_id)]

    def root_type(self, stored: Any) -> TypeRef | None:
        """The TypeRef of a stored ``root_type`` (JSON text), parsed once per distinct text.

        Replies share a handful of root types, and a replay is the hot path: converting the column
        and building the TypeRef again for every replay would cost more than the lookup's SELECT on
        SQLite. TypeRefs are immutable, so one instance can be shared.
        """
        if stored is None:
            return None
        if isinstance(stored, str):
            found = _ROOT_TYPES.get(stored)
            if found is None:
                found = TypeRef.from_json(self.convert("root_type", stored))
                if len(_ROOT_TYPES) >= _ROOT_TYPES_MAX:
                    _ROOT_TYPES.clear()
                _ROOT_TYPES[stored] = found
            return found
        return TypeRef.from_json(self.convert("root_type", stored))

    def row(self, values: Sequence[Any]) -> _Row:
        """A stored row, converting only what its state needs (a replay reads no lease)."""
        state = OperationState(values[0])
        fingerprint = values[2]
        response = values[5]
        if state is OperationState.SEALED:
            lease_expires_at, transactional = None, False
        else:
            lease_expires_at = self.convert("lease_expires_at", values[3])
            transactional = bool(self.convert("transactional", values[4]))
        return _Row(
            state,
            int(values[1]),
            None if fingerprint is None else bytes(fingerprint),
            lease_expires_at,
            transactional,
            None if response is None else bytes(response),
            self.root_type(values[6]) if state is OperationState.SEALED else None,
            values[7],
        )


#: Stored root types (JSON text) -> TypeRef, see :meth:`_Sql.root_type`; bounded, cleared when full.
_ROOT_TYPES: dict[str, TypeRef] = {}
_ROOT_TYPES_MAX = 1024


@dataclass(frozen=True, slots=True)
class _Row:
    state: OperationState
    token: int
    fingerprint: bytes | None
    lease_expires_at: datetime | None
    transactional: bool
    response: bytes | None
    root_type: TypeRef | None  # parsed for sealed rows only
    status_code: int | None

    def sealed(self) -> SealedResponse:
        assert self.response is not None and self.root_type is not None
        return SealedResponse(self.response, self.root_type, self.status_code)

    def classify(self, digest: bytes | None, now: datetime) -> Admission:
        return classify_existing(
            state=self.state,
            token=self.token,
            stored_fingerprint=self.fingerprint,
            lease_expires_at=self.lease_expires_at,
            transactional=self.transactional,
            sealed=self.sealed,
            offered_fingerprint=digest,
            now=now,
        )


_sql_cache: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Sql] = weakref.WeakKeyDictionary()


def _sql(conn: BaseDatabaseWrapper) -> _Sql:
    try:
        return _sql_cache[conn]
    except KeyError:
        sql = _sql_cache[conn] = _Sql(conn)
        return sql
