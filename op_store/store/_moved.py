"""Old module paths of the ORM store's parts, kept importable while callers move to the new ones."""

from __future__ import annotations

import warnings


def warn_moved(old: str, new: str) -> None:
    """Warn once per import of ``old`` that its names now live in ``new``."""
    warnings.warn(f"{old} moved to {new}; import from there", DeprecationWarning, stacklevel=3)
