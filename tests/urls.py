from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("lc/", include("tests.testapp.urls")),
    path("api/op-store/", include("op_store.api.urls")),
    path("rpc/", include(__import__("tests.rpc_services").rpc_services.site.urls)),
    path("rpc-mem/", include(__import__("tests.rpc_services").rpc_services.memory_site.urls)),
    path("rpc-shared/", include(__import__("tests.rpc_services").rpc_services.shared_site.urls)),
]
