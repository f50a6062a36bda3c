"""``op_store.store`` and ``op_store.store.memory`` import without Django (docs/architecture.md#layers);
the ORM store's modules import each other in one direction only; old module paths keep working."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_store_imports_without_django():
    code = (
        "import sys\n"
        "import op_store.store, op_store.store.memory, op_store.store.base, op_store.store.common\n"
        "from op_store.store import InMemoryOperationStore, OperationStore, SealedResponse\n"
        "store = InMemoryOperationStore()\n"
        "store.admit(1)\n"
        "assert store.lookup(1).value == 'admitted'\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not leaked, leaked\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_orm_store_is_lazy():
    code = (
        "import sys, op_store.store\n"
        "assert 'op_store.store.orm' not in sys.modules\n"
        "try:\n"
        "    op_store.store.DjangoOperationStore\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ImproperlyConfigured"  # only on first use, and it needs settings


def _orm_imports() -> dict[str, set[str]]:
    """module -> the sibling modules of op_store.store.orm it imports at run time (not for typing)."""
    package = ROOT / "op_store" / "store" / "orm"
    names = {path.stem for path in package.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        tree = ast.parse((package / f"{name}.py").read_text())
        found: set[str] = set()
        for node in tree.body:  # module level only: TYPE_CHECKING blocks are ``if`` statements
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module in names:
                    found.add(node.module)
                elif node.module is None:
                    found |= {alias.name for alias in node.names if alias.name in names}
        graph[name] = found
    return graph


def test_orm_modules_import_without_a_cycle():
    graph = _orm_imports()
    assert graph["maintenance"].isdisjoint({"store", "sealing"})  # batch jobs do not need the store
    assert "store" not in graph["sealing"]
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for imported in graph[name]:
            visit(imported, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


@pytest.mark.parametrize(
    ("old", "names"),
    [
        ("op_store.store.alias", ["store_alias"]),
        ("op_store.store.isolation", ["admission_isolation", "close_admission_connections", "ADMISSION_ALIAS_SUFFIX"]),
        ("op_store.store.maintenance", ["purge", "release_stale", "stats"]),
        ("op_store.store.schema_cache", ["SchemaCache", "schema_cache"]),
        ("op_store.store.prepared", ["can_prepare", "statement_cursor"]),
    ],
)
def test_old_module_paths_warn_and_still_work(old, names):
    import op_store.store.orm as orm

    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) and old in str(w.message) for w in caught)
    for name in names:
        new = getattr(orm, name, None) or getattr(importlib.import_module("op_store.store.orm.prepared"), name)
        assert getattr(module, name) is new


def test_store_alias_is_importable_from_the_store_package(settings):
    from op_store.store import store_alias
    from op_store.store.orm import store_alias as orm_store_alias

    assert store_alias is orm_store_alias
    assert store_alias() == "default"
