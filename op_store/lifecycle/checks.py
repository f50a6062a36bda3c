"""The middleware-order checks (``op_store.W040``, ``op_store.W041``) live in :mod:`op_store.checks`."""

from __future__ import annotations

from op_store.checks import AUTH_MIDDLEWARE_PATHS, MIDDLEWARE_PATH, check_middleware_order

__all__ = ["AUTH_MIDDLEWARE_PATHS", "MIDDLEWARE_PATH", "check_middleware_order"]
