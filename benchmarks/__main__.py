"""Run the benchmark suite: ``python -m benchmarks [--quick] [--repeat N] [--only codec store ...] [--json PATH]``.

Every comparison runs ``--repeat`` times (default 3), each time in a fresh process with its own
scratch databases; the table shows each figure's median over the runs and its range.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .harness import Row, combine, format_table

SUITES = ("codec", "store", "requests", "rpc", "scale", "concurrency")


def machine() -> str:
    """Cores, memory and CPU model of this machine (for the README)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError):
        memory = "? GiB"
    return f"{os.cpu_count()} cores ({model}), {memory} memory, Python {platform.python_version()}"


def database_versions() -> str:
    import sqlite3

    versions = [f"SQLite {sqlite3.sqlite_version}"]
    try:
        from django.db import connections

        if "postgres" in connections.settings:
            with connections["postgres"].cursor() as cursor:
                cursor.execute("SHOW server_version")
                versions.append(f"PostgreSQL {cursor.fetchone()[0].split()[0]}")
        if "mysql" in connections.settings:
            conn = connections["mysql"]
            name = "MariaDB" if conn.mysql_is_mariadb else "MySQL"
            versions.append(f"{name} {'.'.join(map(str, conn.mysql_version))}")
    except Exception:  # Django not set up (codec only), or no server
        pass
    return ", ".join(versions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and rows (under two minutes)")
    parser.add_argument("--only", nargs="*", choices=SUITES, help="run only these suites")
    parser.add_argument("--json", default="benchmarks/results/latest.json", help="where to write the figures")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each in its own process (median, range)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.repeat > 1:
        runs = [_run_apart(args, i) for i in range(args.repeat)]
        rows = combine([run["rows"] for run in runs])
        goal_runs = [run["goals"] for run in runs]
    else:
        rows = _suites(args)
        runs, goal_runs = [], []

    from .goals import evaluate

    goals = evaluate(rows)
    if goal_runs:  # the verdict is the medians'; the range is the runs' own verdicts' values
        ranges = {(str(r["group"]), str(r["name"])): r for r in combine(goal_runs)}
        for goal in goals:
            found = ranges.get((str(goal["group"]), str(goal["name"])))
            if found is not None and "range" in str(found.get("note", "")):
                goal["note"] = f"{goal.get('note', '')}; {str(found['note']).rsplit('; ', 1)[-1]}"
    print(format_table(rows))
    if goals:
        print()
        print(format_table(goals))
    command = (
        "python -m benchmarks"
        + (" --quick" if args.quick else "")
        + (f" --repeat {args.repeat}" if args.repeat != 3 else "")
        + (f" --only {' '.join(args.only)}" if args.only else "")
    )
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "databases": runs[0]["meta"]["databases"] if args.repeat > 1 else database_versions(),
        "command": command,
        "quick": args.quick,
        "repeat": args.repeat,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows, "goals": goals}, indent=2))
    print(f"\n{meta['date']} on {meta['machine']}; {meta['databases']}")
    print(f"`{command}` took {meta['seconds']}s; figures written to {out}")
    return 0


def _run_apart(args: argparse.Namespace, index: int) -> dict[str, Any]:
    """One run of the chosen suites in a child process (fresh ids, keys and scratch databases)."""
    print(f"run {index + 1} of {args.repeat} ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="op_store_bench_run_") as workdir:
        out = Path(workdir) / "figures.json"
        command = [sys.executable, "-m", "benchmarks", "--repeat", "1", "--json", str(out)]
        command += ["--quick"] if args.quick else []
        command += ["--only", *args.only] if args.only else []
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        found: dict[str, Any] = json.loads(out.read_text())
    return found


def _suites(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for name in args.only or SUITES:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmarks.{name}":
                raise
            print(f"(suite {name!r} not present yet, skipped)", file=sys.stderr)
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        suite_started = time.perf_counter()
        rows += module.run(quick=args.quick)
        print(f"  {name}: {time.perf_counter() - suite_started:.1f}s", file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
