"""The example project's ledger service, run in its own process with its own settings (a temporary SQLite file)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json
    import django
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from demo.models import Account
    from demo.services import Balance, Ledger, LedgerError
    from op_store.models import Operation
    from op_store.rpc import VoxError, describe
    from op_store.vox import Err, Ok

    call_command("migrate", verbosity=0)
    client = Client()

    def post(method, args, op=None, accept="application/json"):
        extra = {"HTTP_ACCEPT": accept}
        if op is not None:
            extra["HTTP_VOX_OPERATION_ID"] = str(op)
        return client.post(f"/rpc/ledger/{method}", json.dumps(args), content_type="application/json", **extra)

    assert json.loads(post("deposit", {"account": "alice", "amount": 10000}, op=1).content) == {
        "variant": "Ok", "value": {"account": "alice", "amount": 10000}}
    first = post("transfer", {"from": "alice", "to": "bob", "amount": 2500}, op=4242)
    again = post("transfer", {"from": "alice", "to": "bob", "amount": 2500}, op=4242)
    assert json.loads(first.content) == {"variant": "Ok", "value": {"account": "alice", "amount": 7500}}
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert Account.objects.get(name="alice").balance == 7500 and Account.objects.get(name="bob").balance == 2500

    spec = describe(Ledger).method("transfer")
    poor = post("transfer", ["bob", "alice", 99999], op=7, accept="application/x-postcard")
    assert spec.reply_codec.decode(poor.content) == Err(
        VoxError.User(LedgerError.InsufficientFunds(available=2500, requested=99999)))
    same = spec.reply_codec.decode(post("transfer", ["bob", "bob", 1], accept="*/*").content)
    assert same == Err(VoxError.User(LedgerError.SameAccount()))
    balance = describe(Ledger).method("balance")
    assert balance.reply_codec.decode(post("balance", ["bob"], op=99, accept="").content) == Ok(Balance("bob", 2500))
    assert Operation.objects.filter(operation_id=99).count() == 0  # idempotent: not stored
    assert Operation.objects.filter(state="sealed").count() == 3
    print("ledger ok")
    """
)


def test_the_example_ledger_moves_money_exactly_once(tmp_path: Path) -> None:
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    (tmp_path / "rpc_example_settings.py").write_text(
        "from example.settings import *  # noqa\n"
        f"DATABASES = {{'default': {database!r}}}\n"
        "ALLOWED_HOSTS = ['testserver']\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{tmp_path}:{ROOT / 'example_project'}:{ROOT}",
        "DJANGO_SETTINGS_MODULE": "rpc_example_settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT / "example_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ledger ok" in done.stdout
