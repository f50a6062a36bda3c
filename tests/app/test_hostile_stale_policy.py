"""``STALE_POLICY = "reexecute"`` runs a handler twice by design: a system check says so when it is global.

The option takes over any stale admission and runs the handler again, including one whose first run
committed its effects and then crashed, or simply outlived its lease. That is what it means, so it
stays available, but set for every view at once it is a foot-gun: ``op_store.W006`` warns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.test import Client
from django.test.utils import override_settings

from op_store import checks as op_checks
from tests.support.live.support import count, make_stale, post, preadmit
from tests.testapp.views import bump

ROOT = Path(__file__).resolve().parents[2]


def _op_store_messages() -> list[Any]:
    return [m for m in checks.run_checks() if m.id and m.id.startswith("op_store.")]


def test_w006_warns_when_reexecute_is_the_global_stale_policy() -> None:
    with override_settings(OP_STORE={"STALE_POLICY": "reexecute"}):
        messages = _op_store_messages()
    assert [m.id for m in messages] == ["op_store.W006"]
    warning = messages[0]
    assert warning.level == checks.WARNING
    assert "twice" in warning.msg
    assert "reexecute_if_transactional" in (warning.hint or "")


def test_w006_is_among_the_settings_checks() -> None:
    with override_settings(OP_STORE={"STALE_POLICY": "reexecute"}):
        assert [m.id for m in op_checks.check_settings()] == ["op_store.W006"]


@pytest.mark.parametrize("policy", ["indeterminate", "reexecute_if_transactional"])
def test_w006_is_silent_for_the_safe_policies(policy: str) -> None:
    with override_settings(OP_STORE={"STALE_POLICY": policy}):
        assert _op_store_messages() == []


def test_w006_is_silent_when_one_view_opts_in() -> None:
    """``exactly_once(stale="reexecute")`` on one view is a choice made where its effects are known."""
    from tests.testapp import views

    assert views.reexecute_view is not None  # the test project has such a view, and its checks are clean
    assert _op_store_messages() == []


def test_w006_can_be_silenced() -> None:
    with override_settings(OP_STORE={"STALE_POLICY": "reexecute"}, SILENCED_SYSTEM_CHECKS=["op_store.W006"]):
        messages = _op_store_messages()
        silenced = [m.is_silenced() for m in messages]  # what manage.py check leaves out
    assert [m.id for m in messages] == ["op_store.W006"] and silenced == [True]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("policy", "runs", "status"), [("reexecute", 2, 201), ("indeterminate", 1, 409)])
def test_what_w006_warns_about(alice: Client, scope: str, policy: str, runs: int, status: int) -> None:
    """A worker ran a plain view, committed its effect and died before the seal; the client retries."""
    preadmit(scope, "/lc/plain/a/")  # the dead worker's admission (not transactional)
    bump("a")  # ... and the effect it committed
    make_stale(scope)  # its lease has run out
    with override_settings(OP_STORE={"STALE_POLICY": policy}):
        assert post(alice, "/lc/plain/a/").status_code == status
    assert count("a") == runs


def test_the_docs_warn_next_to_the_setting() -> None:
    readme_row = next(
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `STALE_POLICY`")
    )
    assert "W006" in readme_row and "twice" in readme_row
    settings_doc = (ROOT / "docs" / "settings.md").read_text()
    section = settings_doc.split("### STALE_POLICY", 1)[1].split("\n### ", 1)[0]
    assert "op_store.W006" in section and "twice" in section
    assert "### W006" in (ROOT / "docs" / "checks.md").read_text()
