"""A small ledger served over RPC at ``/rpc/ledger/<method>`` (see example/urls.py and the README).

``deposit`` and ``transfer`` change balances, so they run exactly once per operation id: a client
that retries a transfer after a dropped connection gets the sealed reply back instead of moving the
money twice. ``balance`` only reads, so it is declared idempotent and bypasses the operation store.

The README's RPC section calls it with the Python client (``op_store.rpc.client.RpcClient``) and
with curl (JSON in, JSON out).
"""

from __future__ import annotations

# Models are imported inside the methods, so that a client process can import this module (for the
# declaration: types, method names, error type) without configuring Django.
from dataclasses import dataclass

from demo.scopes import demo_scope
from op_store.rpc import Service, UserError, rpc_method
from op_store.rpc.site import RpcSite
from op_store.vox import I64, U64, Variant, VoxEnum


@dataclass(frozen=True)
class Balance:
    """An account's balance in cents, after the call."""

    account: str
    amount: I64


class LedgerError(VoxEnum):
    """What can go wrong, as a typed user error (``Err(VoxError.User(...))`` on the wire)."""

    UnknownAccount = Variant(str)
    InsufficientFunds = Variant(available=I64, requested=U64)
    SameAccount = Variant()


class Ledger(Service):
    """Accounts and transfers; every money-moving method runs in one transaction with its sealed reply."""

    @rpc_method(error=LedgerError)
    def deposit(self, account: str, amount: U64) -> Balance:
        """Add ``amount`` cents to ``account``, opening it if needed."""
        from demo.models import Account

        row, _ = Account.objects.select_for_update().get_or_create(name=account)
        row.balance += amount
        row.save(update_fields=["balance", "updated_at"])
        return Balance(row.name, row.balance)

    @rpc_method(error=LedgerError)
    def transfer(self, from_: str, to: str, amount: U64) -> Balance:
        """Move ``amount`` cents from ``from_`` to ``to`` (opened if needed); the payer's new balance."""
        from demo.models import Account

        if from_ == to:
            raise UserError(LedgerError.SameAccount())
        # Lock both rows in name order, so two opposite transfers cannot deadlock.
        locked = {a.name: a for a in Account.objects.select_for_update().filter(name__in=sorted([from_, to]))}
        payer = locked.get(from_)
        if payer is None:
            raise UserError(LedgerError.UnknownAccount(from_))
        if payer.balance < amount:
            raise UserError(LedgerError.InsufficientFunds(available=payer.balance, requested=amount))
        payee = locked.get(to) or Account.objects.create(name=to)
        payer.balance -= amount
        payee.balance += amount
        payer.save(update_fields=["balance", "updated_at"])
        payee.save(update_fields=["balance", "updated_at"])
        return Balance(payer.name, payer.balance)

    @rpc_method(idempotent=True, error=LedgerError)
    def balance(self, account: str) -> Balance:
        """The balance of ``account`` (a read: idempotent, not stored)."""
        from demo.models import Account

        row = Account.objects.filter(name=account).first()
        if row is None:
            raise UserError(LedgerError.UnknownAccount(account))
        return Balance(row.name, row.balance)


#: Served at /rpc/. Demo scope: logged-in users keep their own operation ids, anonymous callers
#: (curl) share one demo scope; a real site keeps the default resolver, which refuses anonymous ids.
site = RpcSite([Ledger], name="rpc", scope=demo_scope, wait=5)

#: ``include("demo.services")`` mounts the site (example/urls.py).
urlpatterns, app_name = site.urls
