"""A payments endpoint to try exactly-once delivery with curl (see the README).

``POST /demo/payments/`` with a JSON body ``{"amount": 1250, "currency": "EUR"}`` and an
``Idempotency-Key`` header "charges" a payment: it gets a new id and the reply says when it was
made. Send the same request again with the same key and you get the very same reply back, marked
``Idempotent-Replayed: true``, and no second payment. ``GET /demo/payments/`` lists the payments.
``"delay": <seconds>`` in the body makes the charge slow, so a duplicate sent meanwhile gets 409.

Payments live in this process's memory (a demo, not a ledger): restarting the server forgets them,
while op_store still remembers the replies.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from op_store.decorators import exactly_once

_lock = threading.Lock()
_payments: list[dict[str, Any]] = []


def demo_scope(request: HttpRequest) -> str:
    """Logged-in users keep their own keys; curl (anonymous) shares one demo scope.

    Demo only: a real endpoint keeps the default resolver, which refuses anonymous keys so that
    one client can never be handed another client's reply.
    """
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else "demo"


def _charge(request: HttpRequest) -> HttpResponse:
    try:
        data = json.loads(request.body or b"{}")
        amount = int(data["amount"])
        currency = str(data.get("currency", "EUR"))
        delay = float(data.get("delay", 0))
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": 'send JSON like {"amount": 1250, "currency": "EUR"}'}, status=400)
    if amount <= 0:
        return JsonResponse({"error": "amount must be positive"}, status=422)
    time.sleep(min(delay, 30))
    with _lock:
        payment = {
            "id": len(_payments) + 1,
            "amount": amount,
            "currency": currency,
            "charged_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        _payments.append(payment)
    response = JsonResponse(payment, status=201)
    response["Location"] = f"/demo/payments/{payment['id']}/"
    return response


@csrf_exempt  # a JSON API for curl; session-authenticated browser forms would keep CSRF on
@require_http_methods(["GET", "POST"])
@exactly_once(scope=demo_scope)
def payments(request: HttpRequest) -> HttpResponse:
    """GET: the payments so far. POST: charge one (exactly once per Idempotency-Key)."""
    if request.method == "GET":
        with _lock:
            return JsonResponse({"count": len(_payments), "payments": list(_payments)})
    return _charge(request)
