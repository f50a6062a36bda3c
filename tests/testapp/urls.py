"""URLs of the lifecycle test views (mounted under ``lc/`` by tests/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("fn/<str:name>/", views.fn_view),
    path("required/<str:name>/", views.required_view),
    path("waiting/<str:name>/", views.waiting_view),
    path("race/<str:name>/", views.race_view),
    path("slow/<str:name>/", views.slow_view),
    path("slow-reexecute/<str:name>/", views.slow_reexecute_view),
    path("reexecute/<str:name>/", views.reexecute_view),
    path("reexecute-if-tx/<str:name>/", views.reexecute_if_tx_view),
    path("seal-500/<str:name>/", views.seal_500_view),
    path("raising/<str:name>/", views.raising_view),
    path("streaming/<str:name>/", views.streaming_view),
    path("file/<str:name>/", views.file_view),
    path("big/<str:name>/", views.big_view),
    path("form/<str:name>/", views.form_view),
    path("raw-upload/<str:name>/", views.raw_upload_view),
    path("plain/<str:name>/", views.plain_fn_view),
    path("async/<str:name>/", views.async_fn_view),
    path("async-raising/<str:name>/", views.async_raising_view),
    path("async-waiting/<str:name>/", views.async_waiting_view),
    path("cbv/<str:name>/", views.CounterView.as_view()),
    path("cbv-class/<str:name>/", views.DecoratedClassView.as_view()),
    path("cbv-method/<str:name>/", views.MethodDecoratedView.as_view()),
    path("cbv-async/<str:name>/", views.AsyncCounterView.as_view()),
    path("drf-fn/<str:name>/", views.drf_fn_view),
    path("drf-handler/<str:name>/", views.DrfHandlerView.as_view()),
    path("drf-dispatch/<str:name>/", views.DrfDispatchView.as_view()),
    path("tx/<str:name>/", views.tx_view),
    path("tx-reexecute/<str:name>/", views.tx_reexecute_view),
    path("maybe-atomic/<str:name>/", views.maybe_atomic_view),
    path("non-atomic/<str:name>/", views.non_atomic_view),
    path("mw/<str:name>/", views.undecorated_view),
    path("mw-async/<str:name>/", views.async_undecorated_view),
    path("mw-row/<str:name>/", views.undecorated_row_view),
    path("state/", views.echo_state),
]
