"""The workspace pages, included at the site root (app_name "workspace")."""
from django.urls import path

from . import workspace_views as views

app_name = "workspace"

urlpatterns = [
    path("workspace/", views.home, name="home"),
    path("workspace/members/", views.members, name="members"),
    path("workspace/members/invite/", views.invite, name="invite"),
    path("workspace/members/<int:membership_id>/role/", views.change_role, name="change_role"),
    path("workspace/members/<int:membership_id>/remove/", views.remove_member, name="remove_member"),
    path("workspace/invitations/<int:invitation_id>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("workspace/switch/", views.switch, name="switch"),
    path("workspace/audit/", views.audit_log, name="audit"),
    path("workspaces/new/", views.new_workspace, name="new"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
]
