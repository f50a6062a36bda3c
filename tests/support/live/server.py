"""A test server in its own process, so a test can SIGKILL it mid-request: ``python -m tests.support.live.server``.

Serves ``tests.urls`` with Django's threaded development WSGI server on 127.0.0.1, on a free port
that it prints as the first line of its standard output, using ``tests.support.live.settings`` (the parent
test's database).
"""

from __future__ import annotations

import os


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.live.settings")
    import django

    django.setup()
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    def announce(port: object) -> None:
        print(port, flush=True)

    run("127.0.0.1", 0, get_wsgi_application(), threading=True, on_bind=announce)


if __name__ == "__main__":
    main()
