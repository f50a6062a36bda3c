"""Scope resolvers: whose key is this? A key only ever replays within the scope it was sealed in.

A resolver is ``callable(request) -> str``. It runs before the view, after the authentication
middleware (and, for a decorator on a DRF handler method, after DRF's authentication), in a
synchronous context even for async views. To refuse a request it raises
:class:`~op_store.problems.ProblemError`.

The default, :func:`default_scope`:

- an authenticated user: ``"user:<pk>"``;
- an anonymous request that carries a session: ``"session:<session key>"`` (a browser that logged
  out or never logged in keeps its own keys);
- an anonymous request without a session: refused with 403 ``anonymous-key``.

Why refuse rather than give each such request a random scope: a random scope silently turns
exactly-once into at-most-never-replayed. The client sent a key because it expects a retry to be
deduplicated, and a random scope would accept the key and run the view again on every retry. A
shared ``"anonymous"`` scope is worse: any anonymous client that learns or guesses a key could read
another client's reply. Refusing is loud, and the view still serves anonymous requests that send
no key. Endpoints whose callers are not Django users (webhooks, machine clients) plug in their own
resolver, e.g. the verified sender's id, or :func:`shared_scope` when keys are unguessable and
replies not secret.
"""

from __future__ import annotations

from django.http import HttpRequest

from op_store.problems import ANONYMOUS_KEY, ProblemError


def default_scope(request: HttpRequest) -> str:
    """``user:<pk>``, else ``session:<key>``, else refuse (see the module docstring)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None) if session is not None else None
    if session_key:
        return f"session:{session_key}"
    raise ProblemError(
        ANONYMOUS_KEY,
        "This endpoint keeps idempotency keys per client, and this request is neither logged in nor part "
        "of a session, so its key could collide with another client's. Log in (or keep the session "
        "cookie), or send the request without a key.",
    )


def user_scope(request: HttpRequest) -> str:
    """Only authenticated users may send keys (anonymous requests with a key are refused)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    raise ProblemError(ANONYMOUS_KEY, "Log in to send an idempotency key to this endpoint.")


def shared_scope(request: HttpRequest) -> str:
    """One scope for every caller: only for unguessable keys and replies that are not secret."""
    return "shared"
