"""URLs of the request-level benchmarks (filled in by the suites that need views)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
