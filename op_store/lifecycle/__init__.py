"""The request lifecycle of op_store: keys, scopes, fingerprints, replies, problems, the engine.

Public entry points live in :mod:`op_store.decorators` (``exactly_once``) and
:mod:`op_store.middleware` (``ExactlyOnceMiddleware``). Importing this package imports no models.
"""
