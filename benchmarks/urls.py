"""URLs of the request-level benchmarks (filled in by the suites that need views)."""

from django.urls import URLPattern, URLResolver

from benchmarks.requests import urlpatterns as request_patterns
from benchmarks.rpc import urlpatterns as rpc_patterns

urlpatterns: list[URLPattern | URLResolver] = [*request_patterns, *rpc_patterns]
