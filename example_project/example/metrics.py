"""``GET /metrics``: prometheus-client's default registry, op_store's metrics among them.

Mounted by ``example/urls.py`` only when prometheus-client is installed (``pip install
'op-store[metrics]'``). A project that already serves the default registry (``django-prometheus``,
``prometheus_client.make_wsgi_app``) needs no view of its own. Keep such an endpoint off the public
internet (network policy, or a login check here): it tells how busy the service is.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The default registry in Prometheus' text format."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
