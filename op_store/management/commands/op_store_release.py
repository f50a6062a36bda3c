"""``manage.py op_store_release``: delete admissions whose lease expired (their owner is gone)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Release stale admissions (admitted, lease expired, never sealed) so that a retry runs the "
        "operation again. Safe for transactional admissions (their writes never committed); for the "
        "others it is your call: the handler may have had effects before it died."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", default=None, help="Only this scope (default: every scope).")
        parser.add_argument(
            "--transactional-only",
            action="store_true",
            help="Only admissions whose handler ran in the seal's transaction (provably unexecuted).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be released; change nothing.")
        parser.add_argument("--batch-size", type=int, default=None, help="Rows per transaction.")
        parser.add_argument("--database", default=None, help="Database alias (default: the store's).")

    def handle(self, *args: Any, **options: Any) -> None:
        from op_store.store.orm import release_stale, store_alias

        count = release_stale(
            using=options["database"],
            scope=options["scope"],
            batch_size=options["batch_size"],
            transactional_only=options["transactional_only"],
            dry_run=options["dry_run"],
        )
        where = f" in scope {options['scope']!r}" if options["scope"] is not None else ""
        alias = store_alias(options["database"])
        if options["dry_run"]:
            self.stdout.write(f"Would release {count} stale admissions{where} on {alias!r} (dry run: nothing changed).")
        else:
            self.stdout.write(self.style.SUCCESS(f"Released {count} stale admissions{where} on {alias!r}."))
