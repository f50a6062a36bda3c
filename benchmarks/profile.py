"""Where a fresh request's Python time goes: ``python -m benchmarks.profile [--one-commit] [--alias sqlite]``.

Runs fresh keyed requests to the trivial view through ``django.test.Client`` under cProfile and
prints the top 20 functions by own time (the table in ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--one-commit", action="store_true", help='exactly_once(admission="in_transaction")')
    parser.add_argument("--alias", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)

    from .djangosetup import default_database, setup

    if args.alias not in setup():
        raise SystemExit(f"database {args.alias!r} is not available")
    from django.test import Client, override_settings

    from .requests import BODY

    url = "/bench/one-commit/" if args.one_commit else "/bench/once/"
    with default_database(args.alias), override_settings(OP_STORE={"DATABASE": args.alias}):
        client = Client()

        def post(i: int) -> None:
            response = client.post(url, BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"profile-{i}")
            assert response.status_code == 201, response.content

        for i in range(50):  # warm-up: imports, connections, caches
            post(-1 - i)
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(args.requests):
            post(i)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
