"""Which admission statement MySQL/MariaDB should use, measured through Django (µs per admission).

``python -m benchmarks.mysql_admission`` (MariaDB on 127.0.0.1:3306, user root, no password: the
``OP_STORE_MYSQL_*`` variables of the test settings) creates a scratch database, migrates op_store
into it, and times four ways to admit, each on new ids and on replays, in alternating rounds:

- ``read first``: SELECT, then ``INSERT IGNORE`` only when the id is new (:class:`MySqlDialect`);
- ``insert ignore first``: ``INSERT IGNORE``, then a SELECT when it inserted nothing;
- ``on duplicate key``: ``INSERT .. ON DUPLICATE KEY UPDATE id = id``, then a SELECT (with
  ``CLIENT.FOUND_ROWS`` the row count cannot tell an insert from a duplicate: compare the token);
- ``portable``: INSERT, a SELECT on ``IntegrityError`` (the generic :class:`Dialect`).

The figures the dialect was chosen by are in docs/deployment.md ("MySQL and MariaDB").
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

ROUNDS = 7
CALLS = 200
_NAME = f"op_store_bench_mysql_{os.getpid()}"


def _configure() -> None:
    import django
    from django.conf import settings

    settings.configure(
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "op_store"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.mysql",
                "NAME": _NAME,
                "USER": os.environ.get("OP_STORE_MYSQL_USER", "root"),
                "PASSWORD": os.environ.get("OP_STORE_MYSQL_PASSWORD", ""),
                "HOST": os.environ.get("OP_STORE_MYSQL_HOST", "127.0.0.1"),
                "PORT": os.environ.get("OP_STORE_MYSQL_PORT", "3306"),
                "OPTIONS": {"charset": "utf8mb4"},
            }
        },
    )
    django.setup()


def _server(sql: str) -> None:
    import MySQLdb

    conn = MySQLdb.connect(
        host=os.environ.get("OP_STORE_MYSQL_HOST", "127.0.0.1"),
        port=int(os.environ.get("OP_STORE_MYSQL_PORT", "3306")),
        user=os.environ.get("OP_STORE_MYSQL_USER", "root"),
        password=os.environ.get("OP_STORE_MYSQL_PASSWORD", ""),
    )
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


Strategy = Callable[[Any, list[Any], list[Any]], bool]


def _strategies() -> dict[str, Strategy]:
    from django.db import connection

    from op_store.store.orm.dialects import Dialect, MySqlDialect

    mysql, portable = MySqlDialect(connection), Dialect(connection)
    on_duplicate = f"{mysql.insert} ON DUPLICATE KEY UPDATE {mysql.col['id']} = {mysql.col['id']}"

    def cursor() -> Any:
        return connection.cursor()

    def read_first(c: Any, key: list[Any], params: list[Any]) -> bool:
        return mysql.admit(cursor, key, lambda: params)[0]

    def insert_ignore_first(c: Any, key: list[Any], params: list[Any]) -> bool:
        c.execute(mysql.insert_ignore, params)
        if c.rowcount == 1:
            return True
        c.execute(mysql.select_row, key)
        return not c.fetchone()

    def on_duplicate_key(c: Any, key: list[Any], params: list[Any]) -> bool:
        c.execute(on_duplicate, params)
        c.execute(mysql.select_row, key)
        return int(c.fetchone()[1]) == params[6]  # the token: ours means inserted

    def portable_admit(c: Any, key: list[Any], params: list[Any]) -> bool:
        return portable.admit(cursor, key, lambda: params)[0]

    return {
        "read first": read_first,
        "insert ignore first": insert_ignore_first,
        "on duplicate key": on_duplicate_key,
        "portable": portable_admit,
    }


def main() -> None:
    _configure()
    _server(f"CREATE DATABASE `{_NAME}` CHARACTER SET utf8mb4")
    try:
        _run()
    finally:
        from django.db import connection

        connection.close()
        _server(f"DROP DATABASE IF EXISTS `{_NAME}`")


def _run() -> None:
    from django.core.management import call_command
    from django.db import connection

    from op_store.store.orm.dialects import INSERT_COLUMNS, MySqlDialect

    call_command("migrate", "op_store", verbosity=0)
    dialect = MySqlDialect(connection)
    ids = itertools.count(1)
    now = datetime.now(UTC)
    strategies = _strategies()

    def params(operation_id: int, token: int) -> tuple[list[Any], list[Any]]:
        values = {
            "scope": "bench",
            "operation_id": operation_id,
            "state": "admitted",
            "method": "POST /x",
            "key": "",
            "fingerprint": b"f" * 32,
            "token": token,
            "transactional": False,
            "created_at": now,
            "lease_expires_at": now + timedelta(minutes=1),
        }
        return dialect.key("bench", operation_id), [dialect.prep(n, values[n]) for n in INSERT_COLUMNS]

    timings: dict[tuple[str, str], list[float]] = {}
    for round_ in range(ROUNDS):
        order = list(strategies.items())
        if round_ % 2:
            order.reverse()
        for name, strategy in order:
            new = [next(ids) for _ in range(CALLS)]
            fresh, again = [params(i, 2 * i) for i in new], [params(i, 2 * i + 1) for i in new]
            with connection.cursor() as c:
                for case, batch in (("new id", fresh), ("replay", again)):
                    t0 = time.perf_counter()
                    results = [strategy(c, key, values) for key, values in batch]
                    elapsed = time.perf_counter() - t0
                    assert all(results) if case == "new id" else not any(results), (name, case)
                    timings.setdefault((name, case), []).append(elapsed / CALLS * 1e6)
    print(f"MariaDB/MySQL {connection.mysql_version}: µs per admission, median of {ROUNDS} rounds of {CALLS}")
    for name in strategies:
        new, replay = (statistics.median(timings[(name, case)]) for case in ("new id", "replay"))
        print(f"  {name:<20} new id {new:7.0f}   replay {replay:7.0f}")


if __name__ == "__main__":
    main()
