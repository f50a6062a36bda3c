"""The README, run as written: its checked commands and snippets against a freshly seeded example server.

A fenced block preceded by ``<!-- checked -->`` is run, in the README's order, right after what
``make example`` does (migrate, seed_demo, runserver; here on a temporary database and a free port):

- ``sh`` blocks: each command (a run of lines) goes to bash; the ``# `` lines under it are the output
  the README shows, and each must match a line of the real output, in order (``…`` matches anything).
- ``python`` blocks run with ``PYTHONPATH=example_project`` from the repository root, as the README
  says; a line ``expr  # -> value`` asserts that ``repr(expr)`` matches ``value``.

A block preceded by ``<!-- excerpt: PATH -->`` must be lines of that file, in order. Every block that
shows output or calls the example server must be checked, so a new recipe cannot slip past.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.example_server import ROOT, runserver, seeded_example

README = ROOT / "README.md"
SHOWN_URL = "http://127.0.0.1:8000"
CHECKED = "<!-- checked -->"
EXCERPT = re.compile(r"<!-- excerpt: (\S+) -->")
EXPECTATION = re.compile(r"^(?P<indent>\s*)(?P<expr>\S.*?)\s+# -> (?P<value>.+)$")
STEP_TIMEOUT = 30


@dataclass
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    lines: list[str]
    marker: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks, each with the marker comment on the last non-blank line before it."""
    blocks: list[Block] = []
    current: Block | None = None
    previous = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if current is None:
            if line.startswith("```"):
                current = Block(lang=line[3:].strip(), line=number, lines=[], marker=previous)
            elif line.strip():
                previous = line.strip()
        elif line.startswith("```"):
            blocks.append(current)
            current, previous = None, ""
        else:
            current.lines.append(line)
    assert current is None, f"README.md: the block opened on line {current.line} is never closed"
    return blocks


@dataclass
class Step:
    """One shell command of a checked block and the output lines the README shows under it."""

    line: int
    command: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)


def shell_steps(block: Block) -> list[Step]:
    steps: list[Step] = []
    for offset, line in enumerate(block.lines, start=1):
        if line.startswith("#"):
            assert steps and line.startswith("# "), f"README.md:{block.line + offset}: output shown before any command"
            steps[-1].shown.append(line[2:])
        elif line.strip():
            if not steps or steps[-1].shown:
                steps.append(Step(line=block.line + offset))
            steps[-1].command.append(line)
    return steps


def shown_pattern(shown: str) -> re.Pattern[str]:
    """A shown output line as a regular expression: literal, except that ``…`` matches anything."""
    return re.compile(".*".join(re.escape(part) for part in shown.split("…")))


def assert_shown(shown: list[str], output: str, where: str) -> None:
    """Each shown line matches a whole line of ``output``, in the order shown."""
    lines = [line.rstrip("\r ") for line in output.splitlines()]
    position = 0
    for expected in shown:
        pattern = shown_pattern(expected)
        while position < len(lines) and not pattern.fullmatch(lines[position]):
            position += 1
        assert position < len(lines), f"{where}: the README shows {expected!r}, the real output was:\n{output}"
        position += 1


def run_shell(block: Block, url: str) -> None:
    for step in shell_steps(block):
        where = f"README.md:{step.line}"
        script = "\n".join(step.command).replace(SHOWN_URL, url)
        done = subprocess.run(
            ["bash", "-c", "set -eo pipefail\n" + script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
        )
        assert done.returncode == 0, f"{where}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert_shown([s.replace(SHOWN_URL, url) for s in step.shown], done.stdout, where)


PYTHON_PRELUDE = """
import re as _re
_readme_checked = 0
def _readme_expect(line, shown, value):
    global _readme_checked
    pattern = ".*".join(_re.escape(part) for part in shown.split("\\u2026"))
    assert _re.fullmatch(pattern, repr(value)), f"README.md:{line}: shows {shown}, got {value!r}"
    _readme_checked += 1
"""


def python_script(block: Block) -> tuple[str, int]:
    """The block with each ``expr  # -> value`` line turned into an assertion; and how many there are."""
    lines, expectations = [], 0
    for offset, line in enumerate(block.lines, start=1):
        match = EXPECTATION.match(line)
        if match:
            expectations += 1
            line = f"{match['indent']}_readme_expect({block.line + offset}, {match['value']!r}, {match['expr']})"
        lines.append(line)
    epilogue = "\nprint('readme expectations met:', _readme_checked)\n"
    return PYTHON_PRELUDE + "\n".join(lines) + epilogue, expectations


def run_python(block: Block, url: str) -> None:
    script, expectations = python_script(block)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["PYTHONPATH"] = "example_project"  # as the README says: PYTHONPATH=example_project .venv/bin/python
    done = subprocess.run(
        [sys.executable, "-c", script.replace(SHOWN_URL, url)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    where = f"README.md:{block.line}"
    assert done.returncode == 0, f"{where}:\n{done.stdout}\n{done.stderr}"
    # Every expectation was reached (one inside an ``except`` only runs if the call really failed).
    assert f"readme expectations met: {expectations}" in done.stdout, f"{where}: {done.stdout}"


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    return readme_blocks(README.read_text())


@pytest.fixture(scope="module")
def example_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with seeded_example(tmp_path_factory.mktemp("readme-example")) as url:
        yield url


def test_every_block_that_shows_output_or_calls_the_server_is_checked(blocks: list[Block]) -> None:
    unchecked = [
        b.line
        for b in blocks
        if b.marker != CHECKED and ("# -> " in b.text or "curl " in b.text or "RpcClient(" in b.text)
    ]
    assert unchecked == [], f"README.md: blocks on lines {unchecked} show output but are not marked {CHECKED}"
    assert sum(b.marker == CHECKED for b in blocks) >= 10


def test_the_readme_runs_as_written_against_the_example(blocks: list[Block], example_url: str) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the README's commands use curl, which is not installed")
    ran = 0
    for block in blocks:
        if block.marker != CHECKED:
            continue
        if block.lang == "sh":
            run_shell(block, example_url)
        elif block.lang == "python":
            run_python(block, example_url)
        else:
            pytest.fail(f"README.md:{block.line}: a checked block must be sh or python, not {block.lang!r}")
        ran += 1
    assert ran >= 10


def _charge(url: str, key: str) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(
        f"{url}/demo/payments/",
        data=b'{"amount": 4200, "currency": "EUR"}',
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(response.headers.items()), response.read()


def test_a_restarted_example_still_lists_its_payments_and_replays_them(tmp_path: Path) -> None:
    """The README: payments are rows in the database, so a restarted server still shows them."""
    with seeded_example(tmp_path) as url:
        headers, charged = _charge(url, "restart-order")
        assert "Idempotent-Replayed" not in headers
    with runserver(tmp_path) as url:
        with urllib.request.urlopen(f"{url}/demo/payments/", timeout=10) as response:
            listed = json.loads(response.read())
        assert [p["amount"] for p in listed["payments"]] == [1250, 990, 40000, 4200]
        headers, again = _charge(url, "restart-order")
        assert headers.get("Idempotent-Replayed") == "true"
        assert again == charged


def test_excerpts_are_the_files_they_quote(blocks: list[Block]) -> None:
    excerpts = [(b, m[1]) for b in blocks if (m := EXCERPT.fullmatch(b.marker))]
    assert excerpts, "README.md: the DRF section quotes example_project/demo/api.py"
    for block, path in excerpts:
        source = (ROOT / path).read_text().splitlines()
        position = 0
        for line in (line for line in block.lines if line.strip()):
            while position < len(source) and source[position].rstrip() != line.rstrip():
                position += 1
            assert position < len(source), f"README.md:{block.line}: {line.strip()!r} is not in {path} (in order)"
            position += 1


#: Names the README documents that another change adds to op_store; a missing one skips, not fails.
PENDING_NAMES = {"op_store.decorators.exactly_once_exempt"}


def test_every_python_block_parses_and_its_op_store_imports_exist(blocks: list[Block]) -> None:
    """The blocks that cannot run on their own (settings, view sketches) still name real things.

    Excerpts are left out: they are lines of a file the suite imports (see the test above).
    """
    missing = []
    for block in (b for b in blocks if b.lang == "python" and not EXCERPT.fullmatch(b.marker)):
        tree = ast.parse(block.text, filename=f"README.md:{block.line}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("op_store"):
                module = importlib.import_module(node.module or "")
                missing += [f"{node.module}.{a.name}" for a in node.names if not hasattr(module, a.name)]
    assert set(missing) <= PENDING_NAMES, f"README.md imports names that do not exist: {missing}"
    if missing:
        pytest.skip(f"not in op_store yet: {sorted(set(missing))}")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_point_at_files_and_headings_that_exist() -> None:
    text = README.read_text()
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets
    broken_anchors = [t for t in targets if t.startswith("#") and t[1:] not in anchors]
    assert broken_anchors == []
    files = [t for t in targets if not t.startswith(("#", "http://", "https://"))]
    missing = sorted({t for t in files if not (ROOT / t.partition("#")[0]).exists()})
    assert missing == [], f"README.md links to files that do not exist: {missing}"
    for target in files:
        path, _, anchor = target.partition("#")
        if anchor and path.endswith(".md"):
            headings = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(), flags=re.M)
            assert anchor in {_anchor(h) for h in headings}, f"README.md links to a missing heading: {target}"
