"""Workspace services: creating workspaces and managing their members. Views, commands and the
admin call these; they keep the rules (a workspace always has an admin)."""
from django.db import transaction

from .models import Membership, Workspace


@transaction.atomic
def create_workspace(name, admin):
    """A new workspace named ``name`` with ``admin`` (a user) as its first admin; returns it."""
    workspace = Workspace.objects.create(name=name)
    Membership.objects.create(workspace=workspace, user=admin, role=Membership.Role.ADMIN)
    return workspace
