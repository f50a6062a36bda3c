"""A ``Content-Length`` that is not a byte count never turns a keyed request into a 500.

The default fingerprint reads the body, so every keyed request does; Django's ``request.body``
converts ``Content-Length`` with ``int()``, which raises ``ValueError`` for text or for more than
4,300 digits. A development server passes such a header through, so op_store answers 413
``request-too-large`` itself before Django would read the body.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from op_store.models import Operation
from tests.support.live.support import count, problem

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "length",
    ["9" * 5000, "9" * 21, "abc", "1_0", "-1", "\u00b2", "0x10"],
    ids=["over-int-digit-limit", "21-digits", "text", "underscore", "negative", "superscript", "hex"],
)
@pytest.mark.parametrize("limit", [2_621_440, None], ids=["default-limit", "no-limit"])
def test_unreadable_content_length_is_413_not_500(
    alice: Client, settings: Any, caplog: pytest.LogCaptureFixture, length: str, limit: int | None
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = limit
    caplog.set_level(logging.WARNING)
    response = alice.post(
        "/lc/fn/a/", b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="cl", CONTENT_LENGTH=length
    )
    assert response.status_code == 413, response.content[:200]
    assert problem(response)["code"] == "request-too-large"
    assert count("a") == 0 and not Operation.objects.exists()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_readable_content_length_still_fingerprints(alice: Client) -> None:
    first = alice.post("/lc/fn/a/", b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="cl")
    again = alice.post("/lc/fn/a/", b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="cl")
    assert first.status_code == 201 and again["Idempotent-Replayed"] == "true" and count("a") == 1
