import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = os.environ.get("OP_STORE_TEST_DB") == "postgres"
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run with OP_STORE_TEST_DB=postgres")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
