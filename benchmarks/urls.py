"""URLs of the request-level benchmarks (filled in by the suites that need views)."""

from django.urls import URLPattern

from benchmarks.requests import urlpatterns as request_patterns

urlpatterns: list[URLPattern] = [*request_patterns]
