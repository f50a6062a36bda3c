"""The example's data: the ledger the RPC service moves money in, and the payments endpoint's rows."""

from typing import Any

from django.db import models


class Account(models.Model):
    """One account: a name and a balance in cents (never negative; ``transfer`` checks)."""

    name = models.CharField(max_length=64, unique=True)
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name}: {self.balance}"


class Payment(models.Model):
    """A charge made through ``/demo/payments/`` or ``/demo/api/charges/``, and how much of it was refunded."""

    amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    refunded = models.PositiveBigIntegerField(default=0)
    charged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"payment {self.pk}: {self.amount} {self.currency}"

    def as_json(self) -> dict[str, Any]:
        """The reply body of the plain Django view (the DRF views use ``demo.api.PaymentSerializer``)."""
        return {
            "id": self.pk,
            "amount": self.amount,
            "currency": self.currency,
            "refunded": self.refunded,
            "charged_at": self.charged_at.isoformat(timespec="milliseconds"),
        }
