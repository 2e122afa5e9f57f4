from django.urls import path

from . import views

app_name = "meetings"

urlpatterns = [
    path("", views.meeting_list, name="list"),
    path("meetings/new/", views.start, name="start"),
    path("meetings/<int:meeting_id>/", views.detail, name="detail"),
    path("meetings/<int:meeting_id>/live/", views.live, name="live"),
    path("meetings/<int:meeting_id>/review/", views.review, name="review"),
    path("meetings/<int:meeting_id>/stop/", views.stop, name="stop"),
    path("meetings/<int:meeting_id>/recording", views.recording, name="recording"),
    path("meetings/<int:meeting_id>/transcript.<str:fmt>", views.export, name="export"),
    path("meetings/<int:meeting_id>/speakers/<int:speaker_id>/rename", views.rename_speaker, name="rename_speaker"),
    path("meetings/<int:meeting_id>/insights/<int:insight_id>/edit", views.edit_insight, name="edit_insight"),
    path("search/", views.search_page, name="search"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
]
