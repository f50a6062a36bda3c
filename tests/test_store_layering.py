"""``op_store.store`` and ``op_store.store.memory`` import without Django (docs/architecture.md#layers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
