"""Test vectors kept in the repository (``tests/vectors/*.json``); see ``tests/vectors/README.md``."""

import json
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent


def load_json(name: str) -> Any:
    """One vector file of this folder, by file name."""
    return json.loads((VECTORS_DIR / name).read_text(encoding="utf-8"))


def load_vectors() -> dict[str, Any]:
    """The schema-hash, postcard and method-id vectors computed from vox's algorithm as read."""
    return load_json("op_store_derived.json")
