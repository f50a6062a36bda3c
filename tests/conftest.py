import os

import pytest
from hypothesis import settings as hypothesis_settings

# CI must not fail on a seed no one can reproduce: there, property tests run derandomized (the
# same examples every run); locally they explore new examples each time.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = os.environ.get("OP_STORE_TEST_DB") == "postgres"
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run with OP_STORE_TEST_DB=postgres")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
