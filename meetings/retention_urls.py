"""Retention pages, mounted at ``/workspace/retention/`` (``config/urls.py``)."""
from django.urls import path

from . import retention_views as views

app_name = "retention"

urlpatterns = [
    path("", views.policy, name="policy"),
    path("deletions/", views.deletions, name="deletions"),
    path("meetings/<int:meeting_id>/", views.meeting_policy, name="meeting"),
    path("meetings/<int:meeting_id>/delete", views.delete_now, name="delete"),
]
