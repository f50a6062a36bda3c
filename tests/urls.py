from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("lc/", include("tests.testapp.urls")),
    path("api/op-store/", include("op_store.api.urls")),
    path("drf/", include("tests.drfapp.urls")),
    path("", include("tests.support.rpc_services")),  # rpc/, rpc-mem/, rpc-shared/
]
