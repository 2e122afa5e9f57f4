from django.urls import path

from .zoom import views as zoom_views
from .zoom import webhooks as zoom_webhooks

app_name = "streaming"

urlpatterns = [
    path("zoom/webhook", zoom_webhooks.account_webhook, name="zoom_webhook"),
    path("zoom/new", zoom_views.new, name="zoom_new"),
    path("zoom/meetings/<int:meeting_id>/", zoom_views.stream, name="zoom_stream"),
    path("zoom/meetings/<int:meeting_id>/timeline", zoom_views.apply_timeline, name="zoom_timeline"),
]
