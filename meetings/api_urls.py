from django.urls import path

from . import api

urlpatterns = [
    path("meetings/", api.meetings, name="api-meetings"),
    path("meetings/<int:meeting_id>/", api.meeting, name="api-meeting"),
    path("meetings/<int:meeting_id>/stop", api.stop, name="api-meeting-stop"),
    path("meetings/<int:meeting_id>/transcript.<str:fmt>", api.transcript, name="api-meeting-transcript"),
    path("search", api.search_view, name="api-search"),
]
