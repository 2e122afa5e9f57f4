from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("meetings.api_urls")),
    path("streaming/", include("streaming.urls")),
    path("telephony/", include("telephony.urls")),
    path("bots/", include("meetings.bots.urls")),
    path("workspace/accounts/", include("meetings.account_urls")),
    path("workspace/retention/", include("meetings.retention_urls")),
    path("", include("meetings.workspace_urls")),
    path("", include("meetings.urls")),
]
