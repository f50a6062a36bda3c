"""The issue's goals, checked against the figures of one run (every figure a ratio within that run)."""

from __future__ import annotations

from collections.abc import Callable

from .harness import Row, row

ALTERNATIVES = ("django-idempotency-key", "drf-idempotency", "drf-idempotencykey")


def _find(rows: list[Row], group: str, name: str) -> float | None:
    for r in rows:
        if r.get("group") == group and r.get("name") == name:
            return r.get("value")
    return None


def evaluate(rows: list[Row]) -> list[Row]:
    """One row per goal and database: the measured value, and MET/MISSED against the target."""
    out: list[Row] = []
    databases = sorted(
        {str(r["group"]).split("/", 1)[1] for r in rows if str(r.get("group", "")).startswith("requests/")}
    )
    databases += [
        db
        for db in sorted(
            {str(r["group"]).split("/", 1)[1] for r in rows if str(r.get("group", "")).startswith("store/")}
        )
        if db not in databases
    ]

    def goal(db: str, name: str, value: float | None, ok: Callable[[float], bool], target: str, unit: str) -> None:
        if value is None:
            return
        out.append(row("goals/" + db, name, value, unit, f"{'MET' if ok(value) else 'MISSED'} (goal {target})"))

    for db in databases:
        req, store = f"requests/{db}", f"store/{db}"
        goal(db, "fresh request adds (floors)", _find(rows, req, "exactly_once: fresh adds (floors)"),
             lambda v: v <= 1.2, "<= 1.2", "floors")  # fmt: skip
        prepared = "exactly_once, prepared statements"
        goal(db, "fresh request adds (floors), PREPARED_STATEMENTS",
             _find(rows, req, f"{prepared}: fresh adds (floors)"),
             lambda v: v <= 1.2, "<= 1.2", "floors")  # fmt: skip
        function = "exactly_once, admission function"
        goal(db, "fresh request adds (floors), ADMISSION_FUNCTION",
             _find(rows, req, f"{function}: fresh adds (floors)"),
             lambda v: v <= 1.2, "<= 1.2", "floors")  # fmt: skip
        goal(db, "fresh request commits", _find(rows, req, "exactly_once, fresh: commits"),
             lambda v: v <= 2, "<= 2", "commits")  # fmt: skip
        bare = _find(rows, req, "writing view bare: commits")
        atomic = _find(rows, req, "writing view, exactly_once(atomic=True): commits")
        if bare is not None and atomic is not None:
            goal(
                db, "commits added to a writing view (atomic=True)", atomic - bare, lambda v: v <= 1, "<= 1", "commits"
            )
        one = 'exactly_once(admission="in_transaction")'
        goal(db, "fresh request adds (floors), default mode", _find(rows, req, "exactly_once: fresh adds (floors)"),
             lambda v: v <= 1.5, "<= 1.5", "floors")  # fmt: skip
        goal(db, "one-commit mode: a writing view's fresh request adds (floors)",
             _find(rows, req, f"writing view, {one}: adds (floors)"),
             lambda v: v <= 0.5, "<= 0.5", "floors")  # fmt: skip
        one_commits = _find(rows, req, f"writing view, {one}: commits")
        if bare is not None and one_commits is not None:
            goal(db, "one-commit mode: commits added to a writing view", one_commits - bare,
                 lambda v: v == 0, "0", "commits")  # fmt: skip
        target = 60.0 if db.startswith("sqlite") else 150.0

        def within(v: float, target: float = target) -> bool:
            return v <= target

        for label in ("exactly_once", one):
            goal(db, f"{label}: replay adds over the bare view", _find(rows, req, f"{label}: replay adds (time)"),
                 within, f"<= {target:.0f} us", "us")  # fmt: skip
        goal(db, "replay commits", _find(rows, req, "exactly_once, replay: commits"),
             lambda v: v == 0, "0", "commits")  # fmt: skip
        goal(db, "replay statements", _find(rows, req, "exactly_once, replay: statements"),
             lambda v: v == 1, "1", "stmts")  # fmt: skip
        goal(db, "replay adds over the bare view", _find(rows, req, "exactly_once: replay adds (time)"),
             lambda v: v <= 200, "<= 200 us", "us")  # fmt: skip
        goal(db, "replay adds over the bare view, PREPARED_STATEMENTS",
             _find(rows, req, f"{prepared}: replay adds (time)"),
             lambda v: v <= 200, "<= 200 us", "us")  # fmt: skip
        goal(db, "replay adds over the bare view, ADMISSION_FUNCTION",
             _find(rows, req, f"{function}: replay adds (time)"),
             lambda v: v <= 200, "<= 200 us", "us")  # fmt: skip
        goal(db, "one-commit mode with ADMISSION_FUNCTION: a writing view's fresh request adds (floors)",
             _find(rows, req, f"writing view, {one}, admission function: adds (floors)"),
             lambda v: v <= 0.5, "<= 0.5", "floors")  # fmt: skip
        goal(db, "ORM store cycle / raw SQL cycle, ADMISSION_FUNCTION",
             _find(rows, store, "admit+seal+get cycle: django, admission function / admit+seal+get cycle: raw"),
             lambda v: v <= 1.2, "<= 1.2", "ratio")  # fmt: skip
        goal(db, "ORM store cycle / raw SQL cycle, PREPARED_STATEMENTS",
             _find(rows, store, "admit+seal+get cycle: django, prepared statements / admit+seal+get cycle: raw"),
             lambda v: v <= 1.2, "<= 1.2", "ratio")  # fmt: skip
        goal(db, "ORM store cycle / raw SQL cycle",
             _find(rows, store, "admit+seal+get cycle: django / admit+seal+get cycle: raw"),
             lambda v: v <= 1.2, "<= 1.2", "ratio")  # fmt: skip
        goal(db, "exactly_once fresh adds / its store cycle",
             _find(rows, req, "exactly_once: fresh adds / its store calls"),
             lambda v: v <= 1.2, "<= 1.2", "ratio")  # fmt: skip
        goal(db, "working view: replay / bare", _find(rows, req, "working view: replay / bare"),
             lambda v: v < 1, "< 1", "ratio")  # fmt: skip
        scale = f"scale/{db}"
        for size in ("1,000,000", "100,000"):
            ratio = _find(rows, scale, f"replay lookup, {size} rows / replay lookup, 1,000 rows")
            if ratio is not None:
                goal(db, f"replay at {size} rows / at 1,000 rows", ratio, lambda v: v <= 1.2, "<= 1.2", "ratio")
                break
        ours_fresh = _find(rows, req, "exactly_once: fresh adds (floors)")
        ours_replay = _find(rows, req, "exactly_once: replay / bare")
        one_fresh = _find(rows, req, f"{one}: fresh adds (floors)")
        one_replay = _find(rows, req, f"{one}: replay / bare")
        for alt in ALTERNATIVES:
            theirs_fresh = _find(rows, req, f"{alt}: fresh adds (floors)")
            theirs_replay = _find(rows, req, f"{alt}: replay / bare")
            if None not in (theirs_fresh, theirs_replay, one_fresh, one_replay):
                assert theirs_fresh is not None and theirs_replay is not None
                assert one_fresh is not None and one_replay is not None
                goal(db, f"ahead of {alt}, one-commit mode: fresh", theirs_fresh / one_fresh,
                     lambda v: v > 1, "> 1", "x")  # fmt: skip
                goal(db, f"ahead of {alt}, one-commit mode: replay", theirs_replay / one_replay,
                     lambda v: v > 1, "> 1", "x")  # fmt: skip
            fresh = _find(rows, req, f"{alt}: fresh adds (floors)")
            replay = _find(rows, req, f"{alt}: replay / bare")
            if None in (fresh, replay, ours_fresh, ours_replay):
                continue
            assert fresh is not None and replay is not None and ours_fresh is not None and ours_replay is not None
            goal(db, f"ahead of {alt}: fresh (its floors / ours)", fresh / ours_fresh, lambda v: v > 1, "> 1", "x")
            goal(db, f"ahead of {alt}: replay (its ratio / ours)", replay / ours_replay, lambda v: v > 1, "> 1", "x")
            prepared_fresh = _find(rows, req, f"{prepared}: fresh adds (floors)")
            prepared_replay = _find(rows, req, f"{prepared}: replay / bare")
            if prepared_fresh is not None and prepared_replay is not None:
                goal(db, f"ahead of {alt}, PREPARED_STATEMENTS: fresh", fresh / prepared_fresh,
                     lambda v: v > 1, "> 1", "x")  # fmt: skip
                goal(db, f"ahead of {alt}, PREPARED_STATEMENTS: replay", replay / prepared_replay,
                     lambda v: v > 1, "> 1", "x")  # fmt: skip
    return out
