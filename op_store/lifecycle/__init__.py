"""Exactly-once for Django views: the HTTP transport of the runner (:mod:`op_store.engine`).

Public entry points live in :mod:`op_store.decorators` (``exactly_once``, ``exactly_once_exempt``)
and :mod:`op_store.middleware` (``ExactlyOnceMiddleware``). The modules:

- :mod:`.engine` — ``handle``/``ahandle``: one view call through the runner
- :mod:`.work` — a view call as runner work: running it, and what of its response is sealed
- :mod:`.responder` — a runner outcome as an HTTP response (replays, problems)
- :mod:`.reply` — HTTP replies as vox values; :mod:`.scopes`, :mod:`.fingerprints` — the defaults
- :mod:`.keys`, :mod:`.policy`, :mod:`.problems`, :mod:`.checks` — old paths, re-exporting

Importing this package imports no models.
"""
