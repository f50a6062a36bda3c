"""URLs of the DRF test API (mounted under ``drf/`` by tests/urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("notes", views.NoteViewSet)

urlpatterns = [
    *router.urls,
    path("notes-required/", views.RequiredNoteCreateView.as_view()),
    path("stamps/", views.StampView.as_view()),
    path("inner-fn/", views.inner_fn),
    path("outer-fn/", views.outer_fn),
    path("plain/", views.PlainView.as_view()),
]
