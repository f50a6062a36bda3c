"""Every HTTP header name op_store reads or writes, in one place.

No Django import: the RPC client (standard library only) reads the same names. The ``META`` keys
are what Django's WSGI and ASGI handlers make of the request headers.
"""

from __future__ import annotations

#: The client-chosen key of an HTTP request (1..255 visible ASCII characters).
IDEMPOTENCY_KEY = "Idempotency-Key"
#: The vox client's u64 operation id, in decimal.
OPERATION_ID = "Vox-Operation-Id"
#: Set to ``true`` on a reply that is a sealed reply replayed to a retry.
REPLAYED = "Idempotent-Replayed"
#: Sent with 409 in-flight / ownership-lost and 503 seal-failed: seconds before a retry makes sense.
RETRY_AFTER = "Retry-After"

#: RPC replies: the root type id (16 hex digits), the full root TypeRef (compact JSON), the method id.
ROOT_TYPE = "Vox-Root-Type"
ROOT_TYPE_REF = "Vox-Root-Type-Ref"
METHOD_ID = "Vox-Method-Id"

#: ``request.META`` keys of the two key headers.
META_IDEMPOTENCY_KEY = "HTTP_IDEMPOTENCY_KEY"
META_OPERATION_ID = "HTTP_VOX_OPERATION_ID"
