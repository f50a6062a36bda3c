from typing import Any

import django
from django.apps import AppConfig
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


def use_wal(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Put an SQLite database in WAL mode: what ``init_command`` does in settings.py on Django 5.1+."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL;")


class DemoConfig(AppConfig):
    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if django.VERSION < (5, 1):  # SQLite's OPTIONS take no init_command before Django 5.1
            connection_created.connect(use_wal, dispatch_uid="demo.use_wal")
