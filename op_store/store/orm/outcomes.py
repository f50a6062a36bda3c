"""Named outcomes of the ORM store's internal steps (what used to be bare strings)."""

from __future__ import annotations

import enum

__all__ = ["IsolationLimit", "SealOutcome"]


class SealOutcome(enum.Enum):
    """What one attempt of a seal's conditional UPDATE found."""

    SEALED = "sealed"  # the reply is stored
    ABSORBED = "absorbed"  # already sealed, or a tombstone: the first reply stays
    STALE_CACHE = "stale_cache"  # a schema the cache vouched for is not in the table: write them all
    RETRY = "retry"  # a concurrent change: try again, nothing was written
    NOT_ADMITTED = "not_admitted"  # a plain seal of an id that has no row: insert it sealed
    LOST = "lost"  # the owner token is no longer current (a fenced seal only)


class IsolationLimit(enum.Enum):
    """Why admissions on a database cannot commit apart from the caller's transaction."""

    PRIVATE_MEMORY = "SQLite private in-memory database: another connection would not see it"
    WRITE_LOCK_MODE = "SQLite transaction_mode {detail}: the caller's transaction holds the write lock"
    NOT_WAL = "SQLite journal_mode {detail} (not WAL): readers block the writer"
