"""Settings of a separate server process in live tests: the test settings on an existing test database.

The parent test passes the name of its (already created) test database in ``OP_STORE_LIVE_DB_NAME``.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["OP_STORE_LIVE_DB_NAME"]
DATABASES["default"].pop("TEST", None)
