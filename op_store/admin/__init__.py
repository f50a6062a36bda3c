"""Django admin for operations and schemas: read-only by default, fast on big tables.

Importing this package registers :class:`~.operations.OperationAdmin` and
:class:`~.schemas.SchemaAdmin` on the default admin site (Django's autodiscovery does it).
"""

from .operations import OperationAdmin
from .schemas import SchemaAdmin

__all__ = ["OperationAdmin", "SchemaAdmin"]
