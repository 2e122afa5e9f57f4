from django.urls import path

from . import hooks, views

app_name = "bots"

urlpatterns = [
    path("", views.bot_list, name="list"),
    path("new/", views.new, name="new"),
    path("<int:meeting_id>/", views.detail, name="detail"),
    path("<int:meeting_id>/cancel/", views.cancel, name="cancel"),
    # The vendor's calls: the per-bot token is the path, one handler reads every kind of callback.
    path("<str:bot_token>/callback", hooks.receive, name="callback"),
    path("<str:bot_token>/live", hooks.receive, name="live"),
    path("<str:bot_token>/participants", hooks.receive, name="participants"),
]
