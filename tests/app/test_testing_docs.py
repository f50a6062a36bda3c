"""docs/testing.md shows real tests: each of its Python examples is found verbatim in a tests/test_testing_*.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_python_example_of_the_testing_docs_is_a_test_copied_verbatim() -> None:
    docs = (ROOT / "docs" / "testing.md").read_text()
    examples = re.findall(r"```python\n(.*?)\n```", docs, re.S)
    sources = "\n".join(path.read_text() for path in sorted((ROOT / "tests" / "app").glob("test_testing_*.py")))
    assert len(examples) >= 8
    missing = [example.splitlines()[0] for example in examples if example not in sources]
    assert not missing, f"docs/testing.md examples not found in tests/test_testing_*.py: {missing}"
    assert all(re.search(r"^\s*(def test_|class \w+Tests)", example, re.M) for example in examples)
