from demo.views import payments
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/op-store/", include("op_store.api.urls")),
    path("demo/payments/", payments, name="demo-payments"),
    path("rpc/", include("demo.services")),
]
