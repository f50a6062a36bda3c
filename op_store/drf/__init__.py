"""Exactly-once for a project's own DRF API: viewsets, generic views, its exception handler and its OpenAPI schema.

- :class:`ExactlyOnceMixin` applies ``@exactly_once`` to a viewset's (or generic view's) writing actions;
- :class:`ExactlyOnceProblem` is what a project's ``EXCEPTION_HANDLER`` receives for op_store's problems;
- :mod:`op_store.drf.schema` (a drf-spectacular extension, registered when drf-spectacular is
  installed) documents the exactly-once operations in the project's schema.

Why ``op_store.drf`` and not ``op_store.contrib.drf``: the package is the DRF face of op_store's own
decorator (the decorator already handles DRF requests), not an optional third-party add-on, and
``op_store`` has no ``contrib`` namespace. See ``docs/drf.md``.
"""

from .exceptions import ExactlyOnceProblem
from .mixins import ExactlyOnceMixin
from .operations import exactly_once_operations

__all__ = ["ExactlyOnceMixin", "ExactlyOnceProblem", "exactly_once_operations"]
