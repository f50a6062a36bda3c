"""The example's scope resolver: whose idempotency keys (and RPC operation ids) these are.

Kept apart from the views so that an RPC client can import ``demo.services`` without configuring
Django (this module imports no models).
"""

from django.http import HttpRequest

from op_store.lifecycle.scopes import shared_scope, user_scope


def demo_scope(request: HttpRequest) -> str:
    """Logged-in users keep their own keys; anonymous callers (curl) share one scope.

    Demo only, so that the README's curl commands work without logging in: a shared scope hands a
    reply to anyone who sends the same key (README, "Choosing a scope"). Real endpoints keep the
    default resolver, which refuses anonymous keys, or authenticate their callers as the DRF views
    in ``demo.api`` do.
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user_scope(request)
    return shared_scope(request)
