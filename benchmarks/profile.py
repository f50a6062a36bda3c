"""Where a keyed request's Python time goes:
``python -m benchmarks.profile [--replay] [--one-commit] [--alias sqlite] [--sort tottime|cumtime]``.

Runs keyed requests to the trivial view through ``django.test.Client`` under cProfile and prints
the top functions: fresh keys by default (admission, the view, the seal), or with ``--replay`` the
same key again and again (one SELECT, the sealed reply decoded and answered). ``--one-commit``
profiles ``exactly_once(admission="in_transaction")``, default the default mode. The table in
``benchmarks/README.md`` is one such run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--one-commit", action="store_true", help='exactly_once(admission="in_transaction")')
    parser.add_argument("--replay", action="store_true", help="repeat one key: profile the replay path")
    parser.add_argument("--alias", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumtime"))
    parser.add_argument("--top", type=int, default=20, help="how many functions to print")
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
            key = "profile-replay" if args.replay else f"profile-{i}"
            response = client.post(url, BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
            assert response.status_code == 201, response.content

        for i in range(50):  # warm-up: imports, connections, caches (and the replayed key's seal)
            post(-1 - i)
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(args.requests):
            post(i)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
