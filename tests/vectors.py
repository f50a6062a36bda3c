"""The shared test vectors (``shared/vectors/vox.json``), found beside the repository or by env."""

import json
import os
from pathlib import Path
from typing import Any


def load_vectors() -> dict[str, Any]:
    """``$OP_STORE_SHARED_DIR/vectors/vox.json``, else ``../shared/vectors/vox.json`` from the repo."""
    shared = os.environ.get("OP_STORE_SHARED_DIR")
    base = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared"
    path = base / "vectors" / "vox.json"
    assert path.is_file(), f"test vectors not found at {path} (set OP_STORE_SHARED_DIR)"
    return json.loads(path.read_text())
