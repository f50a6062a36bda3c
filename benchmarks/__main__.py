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

SUITES = ("codec", "store", "requests", "rpc")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and rows (under two minutes)")
    parser.add_argument("--only", nargs="*", choices=SUITES, help="run only these suites")
    parser.add_argument("--json", default="benchmarks/results/latest.json", help="where to write the figures")
    args = parser.parse_args(argv)

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
        rows += module.run(quick=args.quick)

    print(format_table(rows))
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "quick": args.quick,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\n{meta['date']} on {meta['machine']}; figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
