"""A remote :class:`~op_store.vox.SchemaSource`: schemas fetched by hash from the inspection API.

Point :class:`RemoteSchemaSource` at the URL the API is mounted at; it GETs ``schemas/<hash>/``. The
class lives in :mod:`op_store.remote_schemas` (no Django or DRF import, so the RPC client shares it);
this module keeps the API's import path.
"""

from __future__ import annotations

from op_store.remote_schemas import RemoteSchemaSource, SchemaFetchError, Session

__all__ = ["RemoteSchemaSource", "SchemaFetchError", "Session"]
