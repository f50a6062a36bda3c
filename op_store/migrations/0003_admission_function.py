"""The PostgreSQL admission function ``op_store_admit`` (``OP_STORE["ADMISSION_FUNCTION"]``).

A no-op on every other database. RunPython (not RunSQL) so that it can ask the vendor, and so that
the routers' ``allow_migrate`` decides where it runs, as for the tables. The SQL is built from the
historical model (this migration's state of the table), so it stays what it was when a later
migration changes the model; a change to the admission's columns needs a new migration that
replaces the function. What the function does, and why: docs/architecture.md, "The admission
function (PostgreSQL)".
"""

from typing import Any

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

#: The function's name: fixed, like the table's (``Operation._meta.db_table``), and created in the
#: schema the migration runs in, next to the table.
FUNCTION = "op_store_admit"

#: The INSERT's columns, in the order of the function's first parameters (the store passes
#: ``dialects.INSERT_COLUMNS`` in this order; a test compares the two).
ARGUMENTS = (
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
#: The row the function returns after its ``inserted`` flag (``dialects.ROW_COLUMNS``).
RESULT = ("state", "token", "fingerprint", "lease_expires_at", "transactional", "response", "root_type", "status_code")

BODY = """
#variable_conflict use_column
BEGIN
    -- A stored row is answered as it is: a replay reads, locks nothing and writes nothing.
    RETURN QUERY SELECT FALSE, {result} FROM {table} WHERE {where};
    IF FOUND THEN
        RETURN;
    END IF;
    -- The one-commit mode: whoever holds the operation's lock is running it, uncommitted.
    IF p_lock_key IS NOT NULL AND NOT pg_try_advisory_xact_lock(p_lock_key) THEN
        RETURN QUERY SELECT NULL::boolean, {nulls};
        RETURN;
    END IF;
    -- The bound of a wait on a concurrent inserter's row, for this transaction only.
    IF p_lock_timeout IS NOT NULL THEN
        PERFORM set_config('lock_timeout', p_lock_timeout, true);
    END IF;
    RETURN QUERY INSERT INTO {table} ({columns}) VALUES ({values})
        ON CONFLICT ({conflict}) DO NOTHING RETURNING TRUE, {result};
    IF FOUND THEN
        RETURN;
    END IF;
    -- A concurrent admission inserted it first: this statement has a new snapshot that sees it
    -- (no row: it was deleted since, and the caller tries again).
    RETURN QUERY SELECT FALSE, {result} FROM {table} WHERE {where};
END
"""


def _types(model: Any, schema_editor: BaseDatabaseSchemaEditor, names: tuple[str, ...]) -> list[str]:
    """The column types of ``names`` in the table of ``model``."""
    fields = {f.name: f for f in model._meta.concrete_fields}
    return [str(fields[name].db_type(schema_editor.connection)) for name in names]


def argument_types(model: Any, schema_editor: BaseDatabaseSchemaEditor) -> list[str]:
    """The function's parameter types: the INSERT's columns, the lock bound and the lock key."""
    return [*_types(model, schema_editor, ARGUMENTS), "text", "bigint"]


def function_sql(model: Any, schema_editor: BaseDatabaseSchemaEditor) -> str:
    """``CREATE FUNCTION`` for the table of ``model`` (the historical ``Operation``)."""
    qn = schema_editor.quote_name
    column = {f.name: qn(f.column) for f in model._meta.concrete_fields}
    # Schema-qualified: the body finds the table of the schema it was created in (the first on the
    # migrating connection's search_path, where the table is too), whatever the caller's
    # search_path; cheaper per call than a ``SET search_path`` clause on the function.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
    table = f"{qn(schema)}.{qn(model._meta.db_table)}"
    names = [*(f"p_{name}" for name in ARGUMENTS), "p_lock_timeout", "p_lock_key"]
    parameters = [f"{name} {kind}" for name, kind in zip(names, argument_types(model, schema_editor), strict=True)]
    result_types = _types(model, schema_editor, RESULT)
    returns = ["inserted boolean", *(f"{name} {kind}" for name, kind in zip(RESULT, result_types, strict=True))]
    body = BODY.format(
        table=table,
        result=", ".join(column[name] for name in RESULT),
        where=f"{column['scope']} = p_scope AND {column['operation_id']} = p_operation_id",
        nulls=", ".join(f"NULL::{kind}" for kind in result_types),
        columns=", ".join(column[name] for name in ARGUMENTS),
        values=", ".join(f"p_{name}" for name in ARGUMENTS),
        conflict=f"{column['scope']}, {column['operation_id']}",
    )
    # VOLATILE: each statement of the body takes a new snapshot (READ COMMITTED), which the last
    # SELECT needs. SECURITY INVOKER (the default): the caller's own rights on the table.
    return (
        f"CREATE OR REPLACE FUNCTION {qn(schema)}.{qn(FUNCTION)}({', '.join(parameters)}) "
        f"RETURNS TABLE ({', '.join(returns)}) LANGUAGE plpgsql VOLATILE SECURITY INVOKER "
        f"AS $op_store$ {body} $op_store$"
    )


def create_function(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(function_sql(apps.get_model("op_store", "Operation"), schema_editor), params=None)


def drop_function(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    types = ", ".join(argument_types(apps.get_model("op_store", "Operation"), schema_editor))
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {schema_editor.quote_name(FUNCTION)}({types})", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("op_store", "0002_operation_permissions"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function, hints={"model_name": "operation"}),
    ]
