"""``op_store.vox`` and ``op_store.store.base`` import without Django or settings (docs/architecture.md#layers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import op_store.vox

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import op_store.vox
import op_store.store.base
loaded = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
assert not loaded, f"Django was imported: {loaded[:5]}"
print("ok")
"""


def test_vox_and_store_base_import_without_django() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_vox_modules_do_not_mention_django() -> None:
    package = Path(op_store.vox.__file__).parent
    for path in package.glob("*.py"):
        assert "import django" not in path.read_text() and "from django" not in path.read_text(), path.name


def test_stable_names_are_exported() -> None:
    names = (  # noqa: SIM905 - the vox rows of docs/architecture.md#public-names, as written there
        "U8 U16 U32 U64 U128 I8 I16 I32 I64 I128 F32 F64 Char Bytes Unit Never Payload "
        "PrimitiveType TypeRef Schema SchemaRegistry SchemaSource schema_for encode decode decode_ref "
        "method_id Result Ok Err DecodeError"
    ).split()
    for name in names:
        assert hasattr(op_store.vox, name), name
        assert name in op_store.vox.__all__, name
    assert all(hasattr(op_store.vox, name) for name in op_store.vox.__all__)
