import importlib.util

from demo.api import ChargeView, PaymentViewSet
from demo.views import payments
from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import SimpleRouter

router = SimpleRouter()
router.register("payments", PaymentViewSet)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/op-store/", include("op_store.api.urls")),
    path("demo/payments/", payments, name="demo-payments"),
    path("demo/api/charges/", ChargeView.as_view(), name="demo-api-charges"),
    path("demo/api/", include(router.urls)),
    path("rpc/", include("demo.services")),
]

# /metrics for Prometheus when prometheus-client is installed (pip install 'op-store[metrics]').
if importlib.util.find_spec("prometheus_client") is not None:
    from example.metrics import metrics

    urlpatterns.append(path("metrics", metrics, name="metrics"))
