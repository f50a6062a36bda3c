"""The payments over DRF: ``@exactly_once`` on an ``APIView`` handler and on a viewset ``@action``.

The decorator sits on the handler methods, inside ``APIView.dispatch``, so it sees DRF's
authentication: a client that authenticates with a token or with Basic auth is a user, and its keys
are scoped to that user whichever way it authenticates (the default scope, ``user:<pk>``). An
anonymous request with a key is refused with 403 ``anonymous-key``; without a key it is served.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers, viewsets
from rest_framework.authentication import BasicAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from demo.models import Payment
from op_store.decorators import exactly_once

#: The demo user's API token (``seed_demo`` creates it): ``Authorization: Token demo-api-token``.
DEMO_TOKEN = "demo-api-token"

AUTHENTICATION = [TokenAuthentication, BasicAuthentication, SessionAuthentication]


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "amount", "currency", "refunded", "charged_at"]
        read_only_fields = ["id", "refunded", "charged_at"]


class RefundSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)


class ChargeView(APIView):
    """``POST /demo/api/charges/``: charge a payment (anyone may; a key needs a principal)."""

    authentication_classes = AUTHENTICATION
    permission_classes = [AllowAny]

    @exactly_once(atomic=True)
    def post(self, request: Request) -> Response:
        serializer = PaymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)  # a 400 is sealed too: the same body fails the same way
        serializer.save()
        return Response(serializer.data, status=201)


class PaymentViewSet(viewsets.ReadOnlyModelViewSet):
    """``/demo/api/payments/``: list and read payments; ``POST <id>/refund/`` refunds part of one."""

    queryset = Payment.objects.all()
    serializer_class = PaymentSerializer
    authentication_classes = AUTHENTICATION
    permission_classes = [IsAuthenticated]

    @action(detail=True, methods=["post"])
    @exactly_once(atomic=True)
    def refund(self, request: Request, pk: Any = None) -> Response:
        amount = RefundSerializer(data=request.data)
        amount.is_valid(raise_exception=True)
        # atomic=True: this runs in the transaction that also seals the reply, so the lock holds.
        payment = Payment.objects.select_for_update().get(pk=self.get_object().pk)
        left = payment.amount - payment.refunded
        if amount.validated_data["amount"] > left:
            raise serializers.ValidationError({"amount": [f"only {left} left to refund"]})
        payment.refunded += amount.validated_data["amount"]
        payment.save(update_fields=["refunded"])
        return Response(PaymentSerializer(payment).data)
