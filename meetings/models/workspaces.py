"""Workspaces, their members and roles, and invitations to join them.

A workspace owns meetings, provider accounts, API tokens and a retention policy; what a user
may do with any of them is the role of their :class:`Membership` (``meetings.access`` decides).
"""
import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import Engine


class Workspace(models.Model):
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    default_engine = models.CharField(max_length=20, choices=Engine.choices, default=Engine.LOCAL)
    # Ended meetings older than this (from ``ended_at``) are deleted; NULL keeps them.
    retention = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    REVIEWER = "reviewer", "Reviewer"


class Membership(models.Model):
    Role = Role

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")]
        ordering = ["workspace", "user__username"]

    def __str__(self):
        return f"{self.user} ({self.role}) in {self.workspace}"


class Invitation(models.Model):
    """An invitation by e-mail link. Only the SHA-256 digest of the link's token is stored."""

    TTL = timedelta(days=7)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.email} → {self.workspace} ({self.role})"

    @staticmethod
    def hash(token):
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, workspace, email, role, invited_by):
        """Create an invitation; returns ``(Invitation, token)``. The token goes in the e-mailed link only."""
        token = secrets.token_urlsafe(32)
        invitation = cls.objects.create(workspace=workspace, email=email, role=role, invited_by=invited_by,
                                        digest=cls.hash(token), expires_at=timezone.now() + cls.TTL)
        return invitation, token

    @property
    def is_open(self):
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()
