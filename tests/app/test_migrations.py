"""Migrations match the models, whatever the project's DEFAULT_AUTO_FIELD."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test.utils import override_settings


@pytest.mark.django_db  # makemigrations checks the applied history
@pytest.mark.parametrize(
    "auto_field", ["django.db.models.BigAutoField", "django.db.models.AutoField", "django.db.models.SmallAutoField"]
)
def test_makemigrations_check(auto_field):
    out = io.StringIO()
    with override_settings(DEFAULT_AUTO_FIELD=auto_field):
        # Exits non-zero (SystemExit) if a migration is missing.
        call_command("makemigrations", "op_store", "--check", "--dry-run", stdout=out, stderr=out)
    assert "No changes detected" in out.getvalue()


def test_index_and_constraint_names_are_explicit():
    from op_store.models import Operation, Schema

    names = {i.name for i in Operation._meta.indexes} | {c.name for c in Operation._meta.constraints}
    assert names == {"op_store_op_state_expires", "op_store_op_admitted_lease", "op_store_operation_scope_id_uniq"}
    assert {i.name for i in Schema._meta.indexes} == {"op_store_schema_name"}
    assert type(Operation._meta.pk).__name__ == "BigAutoField"  # pinned by the AppConfig


@pytest.mark.django_db
def test_the_migration_creates_the_indexes():
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "op_store_operation")
    assert {"op_store_op_state_expires", "op_store_op_admitted_lease", "op_store_operation_scope_id_uniq"} <= set(
        constraints
    )
    assert constraints["op_store_operation_scope_id_uniq"]["unique"]
    assert constraints["op_store_operation_scope_id_uniq"]["columns"] == ["scope", "operation_id"]
