from django.urls import path

from . import account_views

app_name = "accounts"

urlpatterns = [
    path("", account_views.account_list, name="list"),
    path("<slug:provider>/", account_views.edit, name="edit"),
    path("<slug:provider>/test/", account_views.test, name="test"),
    path("<slug:provider>/remove/", account_views.remove, name="remove"),
]
