"""The lifecycle's problem types and builders; they live in :mod:`op_store.problems` (re-exported here)."""

from __future__ import annotations

from op_store.problems import (
    ANONYMOUS_KEY,
    EXPIRED,
    FINGERPRINT_MISMATCH,
    IN_FLIGHT,
    INDETERMINATE,
    MALFORMED_KEY,
    MISSING_KEY,
    OWNERSHIP_LOST,
    PROBLEM_CONTENT_TYPE,
    REQUEST_TOO_LARGE,
    RESPONSE_TOO_LARGE,
    SEAL_FAILED,
    TYPE_PREFIX,
    UNREADABLE_REPLY,
    ProblemError,
    ProblemType,
    problem_response,
)
from op_store.problems import LIFECYCLE as ALL

__all__ = [
    "ALL",
    "ANONYMOUS_KEY",
    "EXPIRED",
    "FINGERPRINT_MISMATCH",
    "INDETERMINATE",
    "IN_FLIGHT",
    "MALFORMED_KEY",
    "MISSING_KEY",
    "OWNERSHIP_LOST",
    "PROBLEM_CONTENT_TYPE",
    "REQUEST_TOO_LARGE",
    "RESPONSE_TOO_LARGE",
    "SEAL_FAILED",
    "TYPE_PREFIX",
    "UNREADABLE_REPLY",
    "ProblemError",
    "ProblemType",
    "problem_response",
]
