"""The package's layers (docs/architecture.md#layers) hold: statically, by the import-linter contracts in
``pyproject.toml``; at run time, for the Django-free modules; and the runner finds the ORM store through
the factory the app config installs, not through an import."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from op_store.engine import policy
from op_store.rpc.calls import default_database
from op_store.store import DjangoOperationStore

ROOT = Path(__file__).resolve().parents[2]


def lint_imports() -> str:
    """The ``lint-imports`` of this interpreter's environment (the ``dev`` extra), else skip."""
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("import-linter (the dev extra) is not installed in this environment")
    return found


def test_every_import_contract_is_kept() -> None:
    done = subprocess.run(
        [lint_imports(), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(r"Contracts: (\d+) kept, (\d+) broken\.", done.stdout)
    assert summary is not None, done.stdout
    assert summary.group(2) == "0"
    assert int(summary.group(1)) >= 4  # layers, Django-free, runner vs ORM store, RPC client vs API


PROBE = """
import sys
import op_store.display, op_store.schema_json, op_store.http_reply, op_store.remote_schemas
import op_store.rpc.client, op_store.store.memory
from op_store.rpc.client import RpcClient, RemoteSchemaSource
from op_store.http_reply import HttpReply, decode_reply, encode_reply
reply = HttpReply(201, [("Location", "/x/")], b"{}")
assert decode_reply(encode_reply(reply)) == reply
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"django", "rest_framework", "drf_spectacular"})
assert not loaded, loaded[:5]
assert "op_store.api" not in sys.modules
print("ok")
"""


def test_django_free_modules_import_without_django() -> None:
    """What the static contract cannot see: package ``__init__`` modules run on import too."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_old_paths_of_moved_names_still_work() -> None:
    from op_store import http_reply, remote_schemas
    from op_store.api import client as api_client
    from op_store.lifecycle import reply
    from op_store.rpc import client as rpc_client

    assert reply.HttpReply is http_reply.HttpReply
    assert reply.reply_schema is http_reply.reply_schema
    assert reply.encode_reply is http_reply.encode_reply
    assert reply.decode_reply is http_reply.decode_reply
    assert api_client.RemoteSchemaSource is remote_schemas.RemoteSchemaSource
    assert api_client.SchemaFetchError is remote_schemas.SchemaFetchError
    assert issubclass(rpc_client.RemoteSchemaSource, api_client.RemoteSchemaSource)


def test_the_default_store_is_the_orm_store_for_the_scope() -> None:
    store = policy.default_store("tenant-7")
    assert type(store) is DjangoOperationStore
    assert store.scope == "tenant-7"


def test_without_the_app_config_there_is_no_default_store() -> None:
    installed = policy._default_factory
    policy.set_default_store(None)
    try:
        with pytest.raises(ImproperlyConfigured, match="INSTALLED_APPS"):
            policy.default_store("")
    finally:
        policy.set_default_store(installed)
    assert type(policy.default_store("")) is DjangoOperationStore


def test_an_atomic_rpc_method_defaults_to_the_store_database() -> None:
    assert default_database() == "default"
    with override_settings(OP_STORE={"DATABASE": "elsewhere"}):
        assert default_database() == "elsewhere"
