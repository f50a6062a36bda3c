"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only codec store ...] [--json PATH]``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from .harness import Row, format_table

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
    args = parser.parse_args(argv)

    started = time.perf_counter()
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

    from .goals import evaluate

    goals = evaluate(rows)
    print(format_table(rows))
    if goals:
        print()
        print(format_table(goals))
    command = (
        "python -m benchmarks"
        + (" --quick" if args.quick else "")
        + (f" --only {' '.join(args.only)}" if args.only else "")
    )
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "databases": database_versions(),
        "command": command,
        "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows, "goals": goals}, indent=2))
    print(f"\n{meta['date']} on {meta['machine']}; {meta['databases']}")
    print(f"`{command}` took {meta['seconds']}s; figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
