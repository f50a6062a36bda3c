"""``manage.py op_store_purge``: expire sealed replies past RETENTION, drop tombstones past theirs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from op_store.conf import op_store_settings


class Command(BaseCommand):
    help = (
        "Turn sealed operations past OP_STORE['RETENTION'] into tombstones and delete tombstones past "
        "OP_STORE['TOMBSTONE_RETENTION'], in primary-key batches, each its own short transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows per transaction (default OP_STORE['PURGE_BATCH_SIZE']).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be purged; change nothing.")
        parser.add_argument("--database", default=None, help="Database alias (default: the store's).")
        parser.add_argument(
            "--progress",
            choices=("auto", "always", "never"),
            default="auto",
            help="Show progress (auto: only when stdout is a terminal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from op_store.store.orm import purge, store_alias

        batch_size = options["batch_size"]
        if batch_size is None:
            batch_size = op_store_settings.PURGE_BATCH_SIZE
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        show = options["progress"] == "always" or (options["progress"] == "auto" and self.stdout.isatty())
        progress = self._progress if show else None
        result = purge(using=options["database"], batch_size=batch_size, progress=progress, dry_run=options["dry_run"])
        if show:
            self.stdout.write("")
        alias = store_alias(options["database"])
        if result.dry_run:
            self.stdout.write(
                f"Would expire {result.expired} sealed operations and delete {result.deleted} tombstones "
                f"on {alias!r} (dry run: nothing changed)."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Expired {result.expired} sealed operations and deleted {result.deleted} tombstones on {alias!r} "
                f"in {result.batches} batches ({result.duration:.2f}s; longest transaction "
                f"{result.longest_transaction * 1000:.1f} ms)."
            )
        )

    _phase = ""

    def _progress(self, phase: str, done: int, total: int | None) -> None:
        if self._phase and phase != self._phase:
            self.stdout.write("")
        self._phase = phase
        label = "expiring sealed replies" if phase == "expire" else "deleting tombstones"
        shown = f"{done}/{total}" if total else str(done)
        self.stdout.write(f"\r{label}: {shown}", ending="")
        self.stdout.flush()
