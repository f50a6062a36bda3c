from importlib.util import find_spec

from django.apps import AppConfig

from op_store.store.base import LeasedOperationStore


def orm_store(scope: str) -> LeasedOperationStore:
    """The default store: ``DjangoOperationStore(scope)`` (its module is imported on first use)."""
    from op_store.store.orm import DjangoOperationStore

    return DjangoOperationStore(scope=scope)


class OpStoreConfig(AppConfig):
    name = "op_store"
    verbose_name = "Operation store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing registers the system checks.
        from . import checks  # noqa: F401
        from .api import checks as api_checks  # noqa: F401
        from .metrics import install

        # Prometheus metrics when OP_STORE["METRICS"] wants them (docs/deployment.md, "Metrics").
        install()

        if find_spec("drf_spectacular") is not None:
            # Registers the drf-spectacular extension that documents exactly-once operations (docs/drf.md).
            from .drf import schema  # noqa: F401

        from .engine.policy import set_default_store

        # The runner and the transports sit below the ORM store (docs/architecture.md#layers): they
        # reach it through this factory, installed here, not through an import.
        set_default_store(orm_store)
