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
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
]
