"""The DRF inspection API (DESIGN §8): mount ``op_store.api.urls`` under a prefix of your choice.

Needs the ``api`` extra (djangorestframework); drf-spectacular, when installed, adds ``schema/``.
:mod:`op_store.api.client` (the remote schema source) needs neither.
"""
