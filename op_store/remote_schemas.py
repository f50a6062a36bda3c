"""Schemas fetched by hash over HTTP: a :class:`~op_store.vox.SchemaSource` for plain Python clients.

A client that holds a sealed payload and its root type, but not every schema, asks a server's
``schemas/<16 hex digits>/`` endpoint (the inspection API's, or an RPC site's) and rebuilds the schema
with ``Schema.from_json``. Schemas are content-addressed (a hash never changes meaning), so every
schema fetched is cached for good; a miss is not cached, because the schema may be stored later.

Standard library and :mod:`op_store.vox` only: the RPC client (:mod:`op_store.rpc.client`) builds on
it without loading Django or DRF. :mod:`op_store.api.client` re-exports it.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

from op_store.vox.ids import format_hash
from op_store.vox.schema import Schema

__all__ = ["RemoteSchemaSource", "SchemaFetchError", "Session"]


class SchemaFetchError(Exception):
    """The server answered something other than a schema or a 404 (auth, server error, bad JSON)."""


class _Response(Protocol):
    status_code: int

    def json(self) -> Any: ...


class Session(Protocol):
    """What ``session=`` needs: ``requests.Session`` and Django's test ``Client`` both fit."""

    def get(self, url: str, **kwargs: Any) -> _Response: ...


class RemoteSchemaSource:
    """Schemas by hash from ``<base_url>schemas/<hash>/`` (``base_url``: where the inspection API is mounted).

    ``session`` (optional) is a ``requests.Session``-like object used for the GETs; without one,
    ``urllib`` is used with ``headers`` (e.g. ``{"Authorization": "Token ..."}``) and ``timeout``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: Session | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.session = session
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.timeout = timeout
        self._cache: dict[int, Schema] = {}
        self._lock = threading.Lock()

    def url_for(self, schema_id: int) -> str:
        return f"{self.base_url}schemas/{format_hash(schema_id)}/"

    def get_schema(self, schema_id: int, /) -> Schema | None:
        """The schema with this hash, or None if the server does not have it."""
        with self._lock:
            cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        data = self._fetch(self.url_for(schema_id))
        if data is None:
            return None
        try:
            schema = Schema.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaFetchError(f"{self.url_for(schema_id)} did not return a schema: {exc}") from exc
        if schema.id != schema_id:
            raise SchemaFetchError(f"asked for schema {format_hash(schema_id)}, got {format_hash(schema.id)}")
        with self._lock:
            self._cache[schema_id] = schema
        return schema

    def _fetch(self, url: str) -> Any:
        if self.session is not None:
            response = self.session.get(url, headers=self.headers, timeout=self.timeout)
            if response.status_code == 404:
                return None
            if response.status_code != 200:
                raise SchemaFetchError(f"GET {url} answered {response.status_code}")
            try:
                return response.json()
            except ValueError as exc:
                raise SchemaFetchError(f"GET {url} did not answer JSON: {exc}") from exc
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise SchemaFetchError(f"GET {url} answered {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SchemaFetchError(f"GET {url} failed: {exc}") from exc
