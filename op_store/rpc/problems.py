"""The transport-level problems of the RPC view (RFC 9457, via the lifecycle's helpers).

Every RPC outcome that is a ``Result`` travels as HTTP 200 (vox errors ride inside it). A problem is
only for what is not an RPC outcome: the HTTP request itself is unfit (wrong HTTP method, content type,
malformed ``Vox-Operation-Id``, a body too large), the caller may not use operation ids (no principal),
the operation is still running elsewhere (409, retry with the same id), or the server failed.
The problems the HTTP lifecycle already defines are reused with their codes; these are the RPC's own.
"""

from __future__ import annotations

from op_store.lifecycle.problems import ProblemType

METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", 405, "HTTP method not allowed")
UNSUPPORTED_MEDIA_TYPE = ProblemType("unsupported-media-type", 415, "Unsupported content type")
METHOD_FAILED = ProblemType("method-failed", 500, "RPC method failed")
SCHEMA_NOT_FOUND = ProblemType("schema-not-found", 404, "Schema not found")

ALL: tuple[ProblemType, ...] = (METHOD_NOT_ALLOWED, UNSUPPORTED_MEDIA_TYPE, METHOD_FAILED, SCHEMA_NOT_FOUND)
