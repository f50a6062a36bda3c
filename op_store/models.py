"""The two tables behind :class:`op_store.store.orm.DjangoOperationStore`.

``Operation`` is one row per (scope, operation id): admitted, sealed (with the reply) or expired (a
tombstone). ``Schema`` is content-addressed: its primary key is the vox schema hash, rows are
inserted with insert-ignore-conflicts and never updated.

u64 values (operation ids, schema hashes) live in signed BIGINT columns by two's complement
(:class:`U64Field`), so 0 and 2**64-1 both round-trip; the ORM sees plain u64 ints. Ordering
comparisons (``__gt``/``__lt``) on those columns follow the signed order, not the u64 one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import validators
from django.db import models
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from op_store.store.base import OperationState, SealedResponse
from op_store.vox.ids import U64_MAX, check_u64, format_hash, i64_to_u64, u64_to_i64
from op_store.vox.schema import Schema as VoxSchema
from op_store.vox.schema import TypeRef

__all__ = [
    "Operation",
    "OperationQuerySet",
    "ReleaseResult",
    "Schema",
    "SchemaQuerySet",
    "U64Field",
    "schemas_deleted",
]

#: Sent (``sender=Schema``, ``using``) after schemas were deleted through the ORM, so that caches of
#: stored schemas (the ORM store's schema cache) forget them.
schemas_deleted = Signal()

#: Longest scope (authenticated principal, session...) a row can hold.
SCOPE_MAX_LENGTH = 255


class U64Field(models.BigIntegerField):
    """An unsigned 64-bit integer stored in a signed BIGINT column by two's complement."""

    description = _("Unsigned 64-bit integer")

    @property
    def validators(self) -> list[Any]:
        # BigIntegerField would add the signed range of the backend; the Python value is a u64.
        own = list(getattr(self, "_validators", []))
        return [*own, validators.MinValueValidator(0), validators.MaxValueValidator(U64_MAX)]

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return u64_to_i64(check_u64(value, self.name or "value"))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        return None if value is None else i64_to_u64(int(value))

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"min_value": 0, "max_value": U64_MAX, **kwargs})


class OperationQuerySet(models.QuerySet["Operation"]):
    """Helpers for the states and deadlines the store and the commands care about."""

    def for_scope(self, scope: str) -> OperationQuerySet:
        return self.filter(scope=scope)

    def get_by_id(self, operation_id: int, scope: str = "") -> Operation:
        return self.get(scope=scope, operation_id=operation_id)

    def admitted(self) -> OperationQuerySet:
        return self.filter(state=Operation.State.ADMITTED)

    def sealed(self) -> OperationQuerySet:
        return self.filter(state=Operation.State.SEALED)

    def tombstones(self) -> OperationQuerySet:
        return self.filter(state=Operation.State.EXPIRED)

    def stale(self, now: datetime | None = None) -> OperationQuerySet:
        """Admitted operations whose lease has run out (their owner may be gone)."""
        return self.admitted().filter(lease_expires_at__lt=now or timezone.now())

    def not_stale(self, now: datetime | None = None) -> OperationQuerySet:
        """Everything :meth:`stale` leaves out: sealed, expired, and admitted under a live lease."""
        return self.exclude(state=Operation.State.ADMITTED, lease_expires_at__lt=now or timezone.now())

    def in_flight(self, now: datetime | None = None) -> OperationQuerySet:
        return self.admitted().filter(lease_expires_at__gte=now or timezone.now())

    def expired(self, now: datetime | None = None) -> OperationQuerySet:
        """Sealed replies past their retention: the next purge turns them into tombstones."""
        return self.sealed().filter(expires_at__lt=now or timezone.now())

    def tombstones_due(self, now: datetime | None = None) -> OperationQuerySet:
        """Tombstones past their own retention: the next purge deletes them."""
        return self.tombstones().filter(expires_at__lt=now or timezone.now())

    def release_admitted(self, ids: Iterable[int]) -> ReleaseResult:
        """Release the admitted operations among the rows of this queryset with primary keys ``ids``.

        A released operation runs again on its next retry. Each release goes through the store's
        ``remove()``, which deletes a row only while it is still admitted (a reply sealed meanwhile
        stays) and, on PostgreSQL, never waits on a row a sealing transaction holds; it sends
        ``operation_removed``. Three queries plus one DELETE per admitted row.
        """
        from op_store.store import DjangoOperationStore  # the store is built on these models

        wanted = set(ids)
        rows = list(self.filter(pk__in=wanted).values_list("pk", "scope", "operation_id", "state"))
        admitted = [(pk, scope, op_id) for pk, scope, op_id, state in rows if state == Operation.State.ADMITTED]
        for _pk, scope, operation_id in admitted:
            DjangoOperationStore(scope=scope, using=self.db).remove(operation_id)
        left = dict(self.filter(pk__in=[pk for pk, _, _ in admitted]).values_list("pk", "state")) if admitted else {}
        busy = sum(1 for state in left.values() if state == Operation.State.ADMITTED)
        return ReleaseResult(
            released=len(admitted) - len(left),
            not_admitted=len(rows) - len(admitted) + len(left) - busy,
            busy=busy,
            missing=len(wanted) - len(rows),
        )

    release_admitted.alters_data = True  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    """What :meth:`OperationQuerySet.release_admitted` did with the primary keys it was given."""

    #: Admissions deleted: a retry runs the operation again.
    released: int = 0
    #: Sealed or expired (some maybe sealed while being released): left alone, their reply may be out.
    not_admitted: int = 0
    #: Still admitted: a transaction was sealing the row at that moment (PostgreSQL skips it).
    busy: int = 0
    #: No such row (already released or purged, or never there).
    missing: int = 0


class Operation(models.Model):
    """One operation id in one scope: admitted (owned under a lease), sealed, or a tombstone."""

    class State(models.TextChoices):
        ADMITTED = "admitted", _("admitted")
        SEALED = "sealed", _("sealed")
        EXPIRED = "expired", _("expired")

    scope = models.CharField(
        _("scope"),
        max_length=SCOPE_MAX_LENGTH,
        blank=True,
        default="",
        help_text=_("Whose id this is: operation ids are only unique per client (principal, session)."),
    )
    operation_id = U64Field(_("operation id"), help_text=_("The client's u64 operation id."))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.ADMITTED)
    method = models.CharField(_("method"), max_length=255, blank=True, default="")
    key = models.CharField(
        _("idempotency key"),
        max_length=255,
        blank=True,
        default="",
        help_text=_("The client's Idempotency-Key text; blank for numeric vox operation ids."),
    )
    # A fixed 32-byte BLAKE3 digest of whatever the fingerprint function returned. Binary, not hex:
    # it is only ever compared in Python after the row is read (never filtered or indexed), so the
    # compact form wins; the admin and the API show it as hex.
    fingerprint = models.BinaryField(_("fingerprint"), max_length=32, null=True, blank=True)
    token = models.BigIntegerField(
        _("owner token"), help_text=_("Fencing token of the current owner; a takeover issues a new one.")
    )
    transactional = models.BooleanField(
        _("transactional"),
        default=False,
        help_text=_("Handler writes and seal share one transaction, so a stale admission never ran."),
    )
    response = models.BinaryField(_("response"), null=True, blank=True)
    root_type = models.JSONField(_("root type"), null=True, blank=True, help_text=_("TypeRef of the response."))
    response_size = models.PositiveIntegerField(_("response size"), null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    sealed_at = models.DateTimeField(_("sealed at"), null=True, blank=True)
    expires_at = models.DateTimeField(
        _("expires at"),
        null=True,
        blank=True,
        help_text=_("Sealed: when the reply may be purged. Expired: when the tombstone may be deleted."),
    )

    objects = OperationQuerySet.as_manager()

    class Meta:
        verbose_name = _("operation")
        verbose_name_plural = _("operations")
        # Beyond Django's view/add/change/delete; who needs which: docs/settings.md#api_permission_classes.
        permissions = [
            ("purge_operations", _("Can purge expired operations")),
            ("view_payload", _("Can view the replies of other users' operations")),
        ]
        # Newest first through the primary key index: no sort on a big table.
        ordering = ("-pk",)
        constraints = [
            models.UniqueConstraint(fields=("scope", "operation_id"), name="op_store_operation_scope_id_uniq"),
        ]
        indexes = [
            # purge: sealed past retention, tombstones past theirs (each phase scans only its rows).
            models.Index(fields=("state", "expires_at"), name="op_store_op_state_expires"),
            # op_store_release and the admin's "lease expired" filter; only admitted rows are in it.
            models.Index(
                fields=("lease_expires_at",),
                name="op_store_op_admitted_lease",
                condition=models.Q(state="admitted"),
            ),
        ]

    def __str__(self) -> str:
        scope = f"{self.scope}/" if self.scope else ""
        label = self.key or str(self.operation_id)
        return f"{scope}{label} ({self.state})"

    @property
    def root_type_ref(self) -> TypeRef | None:
        return None if self.root_type is None else TypeRef.from_json(self.root_type)

    @property
    def fingerprint_hex(self) -> str:
        return "" if self.fingerprint is None else bytes(self.fingerprint).hex()

    def operation_state(self) -> OperationState:
        return OperationState(self.state)

    def sealed_response(self) -> SealedResponse | None:
        """The reply as the store returns it, or None unless sealed."""
        if self.state != self.State.SEALED or self.response is None or self.root_type is None:
            return None
        return SealedResponse(bytes(self.response), TypeRef.from_json(self.root_type), self.status_code)

    def lease_expired(self, now: datetime | None = None) -> bool:
        return (
            self.state == self.State.ADMITTED
            and self.lease_expires_at is not None
            and self.lease_expires_at < (now or timezone.now())
        )


class SchemaQuerySet(models.QuerySet["Schema"]):
    def by_hash(self, schema_hash: int | str) -> Schema:
        """A schema by its hash, given as an int or as hex digits (as in URLs)."""
        from op_store.vox.ids import parse_hash

        return self.get(pk=parse_hash(schema_hash) if isinstance(schema_hash, str) else schema_hash)

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete, then send ``schemas_deleted`` (a seal must insert them again)."""
        result = super().delete()
        schemas_deleted.send(sender=Schema, using=self.db)
        return result

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class Schema(models.Model):
    """A vox schema, stored once per hash and shared by every reply whose type closure needs it."""

    id = U64Field(_("hash"), primary_key=True, help_text=_("The vox schema hash (u64)."))
    kind = models.CharField(_("kind"), max_length=16)
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    definition = models.JSONField(_("definition"), help_text=_("Schema.to_json()"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = SchemaQuerySet.as_manager()

    class Meta:
        verbose_name = _("schema")
        verbose_name_plural = _("schemas")
        ordering = ("name", "id")
        indexes = [models.Index(fields=("name", "id"), name="op_store_schema_name")]

    def __str__(self) -> str:
        return f"{self.name or self.kind} {self.hash_hex}"

    @property
    def hash_hex(self) -> str:
        return format_hash(self.id)

    def to_vox(self) -> VoxSchema:
        return VoxSchema.from_json(self.definition)

    @classmethod
    def from_vox(cls, schema: VoxSchema) -> Schema:
        return cls(id=schema.id, kind=schema.kind.tag, name=schema.name[:255], definition=schema.to_json())

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        result = super().delete(*args, **kwargs)
        schemas_deleted.send(sender=Schema, using=self._state.db)
        return result
