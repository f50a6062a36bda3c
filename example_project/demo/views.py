"""A payments endpoint to try exactly-once delivery with curl (see the README).

``POST /demo/payments/`` with a JSON body ``{"amount": 1250, "currency": "EUR"}`` and an
``Idempotency-Key`` header charges a payment: a ``Payment`` row, written in the same transaction as
the sealed reply (``atomic=True``). The same request again with the same key gets the very same
reply back, marked ``Idempotent-Replayed: true``, and no second row. ``GET /demo/payments/`` lists
the rows, so a restarted server still shows them.

Two switches for the README's walk-through:

- ``"delay": <seconds>`` in the body makes the charge slow, so a duplicate sent meanwhile gets 409
  in-flight;
- the header ``X-Demo-Crash: true`` makes the view raise after the row is written, as a crash
  between charging and answering would: the transaction rolls the row back and op_store releases
  the key, so the client's retry (the same request without the header: a header is not part of
  the fingerprint) runs the charge once.
"""

from __future__ import annotations

import json
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from demo.models import Payment
from demo.scopes import demo_scope
from op_store.decorators import exactly_once


class ChargeCrashed(RuntimeError):
    """What ``X-Demo-Crash: true`` raises once the payment row is written."""


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
    payment = Payment.objects.create(amount=amount, currency=currency)
    if request.headers.get("X-Demo-Crash") == "true":
        raise ChargeCrashed(f"payment {payment.pk} was written, then the view crashed (X-Demo-Crash)")
    response = JsonResponse(payment.as_json(), status=201)
    response["Location"] = f"/demo/payments/{payment.pk}/"
    return response


@csrf_exempt  # a JSON API for curl; session-authenticated browser forms would keep CSRF on
@require_http_methods(["GET", "POST"])
@exactly_once(scope=demo_scope, atomic=True)
def payments(request: HttpRequest) -> HttpResponse:
    """GET: the payments so far. POST: charge one (exactly once per Idempotency-Key)."""
    if request.method == "GET":
        rows = [payment.as_json() for payment in Payment.objects.all()]
        return JsonResponse({"count": len(rows), "payments": rows})
    return _charge(request)
