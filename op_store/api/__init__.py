"""The DRF inspection API: mount ``op_store.api.urls`` under a prefix of your choice.

What it serves and why: docs/architecture.md#admin-and-inspection-api; its errors: docs/problems.md#inspection-api.

Needs the ``api`` extra (djangorestframework); drf-spectacular, when installed, adds ``schema/``
and its offline Swagger UI and Redoc pages (docs/api.md).
:mod:`op_store.api.client` (the remote schema source) needs neither.
"""
