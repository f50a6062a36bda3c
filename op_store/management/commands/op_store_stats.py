"""``manage.py op_store_stats``: operations per state, due work, stored bytes and schemas."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Show how many operations the store holds per state, what purge/release would do, and sizes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
        parser.add_argument("--database", default=None, help="Database alias (default: the store's).")

    def handle(self, *args: Any, **options: Any) -> None:
        from op_store.store.orm import stats

        data = stats(using=options["database"])
        if options["json"]:
            self.stdout.write(json.dumps(data.as_dict(), indent=2, sort_keys=True))
            return
        rows = [
            *((f"operations {state}", count) for state, count in data.operations.items()),
            ("operations total", data.total),
            ("stale admissions (lease expired)", data.stale),
            ("sealed past retention (purge expires)", data.expired_due),
            ("tombstones past retention (purge deletes)", data.tombstones_due),
            ("sealed response bytes", data.response_bytes),
            ("schemas", data.schemas),
        ]
        self.stdout.write(f"op_store on database {data.database!r}")
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"  {label:<{width}}  {value:>12,}")
