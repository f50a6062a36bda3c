"""The ledger the demo RPC service (``demo.services.Ledger``) moves money in."""

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
