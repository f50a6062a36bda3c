"""URLs of the request-level benchmarks (loaded after ``djangosetup.setup``, so views may use DRF)."""

from django.urls import URLPattern, URLResolver

from benchmarks.requests import build_urlpatterns
from benchmarks.rpc import urlpatterns as rpc_patterns

urlpatterns: list[URLPattern | URLResolver] = [*build_urlpatterns(), *rpc_patterns]
