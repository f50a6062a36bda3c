"""Settings of the op_store example project (SQLite, DEBUG on: for trying things, not production)."""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-project-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    # Swagger UI and Redoc for /api/op-store/docs/ and /redoc/, served from here, not a CDN.
    "drf_spectacular_sidecar",
    "op_store",
    "demo",
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        # OP_STORE_EXAMPLE_DB: another SQLite file (the tests run the example on a temporary one).
        "NAME": os.environ.get("OP_STORE_EXAMPLE_DB", BASE_DIR / "db.sqlite3"),
        # WAL lets op_store commit an admission on its own connection while a view's transaction
        # is open (system check op_store.W003 explains why it matters). Django 5.1+ runs the PRAGMA
        # on each new connection; before 5.1 SQLite takes no init_command and demo/apps.py runs it.
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;"} if django.VERSION >= (5, 1) else {},
    }
}
STATIC_URL = "/static/"

OP_STORE: dict[str, object] = {}
