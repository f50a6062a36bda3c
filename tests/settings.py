"""Settings for the test suite. ``OP_STORE_TEST_DB`` picks the database: ``sqlite`` (the default),
``postgres``, ``pgbouncer`` (the same PostgreSQL through PgBouncer in transaction pooling) or
``mysql`` (MariaDB/MySQL); ``make test-pgbouncer`` and ``make test-mysql`` set it."""

import os
from typing import Any

SECRET_KEY = "op-store-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # The static files of the inspection API's Swagger UI and Redoc pages (docs/api.md).
    "drf_spectacular_sidecar",
    "op_store",
    "tests.testapp",
    "tests.drfapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"

TEST_DB = os.environ.get("OP_STORE_TEST_DB", "sqlite")
DATABASES: dict[str, dict[str, Any]]

if TEST_DB in ("postgres", "pgbouncer"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "test",
            "USER": "postgres",
            "HOST": os.environ.get("OP_STORE_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("OP_STORE_PG_PORT", "5432"),
            # Parallel runs (helpers, CI) keep apart by naming their own test database.
            "TEST": {"NAME": os.environ.get("OP_STORE_PG_TEST_NAME", "test_op_store")},
        }
    }
    if TEST_DB == "pgbouncer":
        # The same PostgreSQL behind PgBouncer in transaction pooling (.ci/pgbouncer starts it).
        DATABASES["default"]["PORT"] = os.environ.get("OP_STORE_PGBOUNCER_PORT", "6432")
        # A server-side cursor is a session object: it lives on one server connection, and the
        # next fetch may land on another (Django's advice for transaction pooling).
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
elif TEST_DB == "mysql":
    # MariaDB (or MySQL) through mysqlclient; .ci/mariadb starts the server.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "test",
            "USER": os.environ.get("OP_STORE_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("OP_STORE_MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("OP_STORE_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("OP_STORE_MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {
                "NAME": os.environ.get("OP_STORE_MYSQL_TEST_NAME", "test_op_store"),
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            },
        }
    }
elif TEST_DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("OP_STORE_SQLITE_NAME", ":memory:"),
        }
    }
else:  # a misspelt name must not quietly run the suite on SQLite
    raise ValueError(f"OP_STORE_TEST_DB={TEST_DB!r}: expected sqlite, postgres, pgbouncer or mysql")
