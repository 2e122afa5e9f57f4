"""Parley's models: the meeting hub (``hub``), workspaces and roles, provider accounts,
retention's deletion records and the audit log."""
from .accounts import Provider, ProviderAccount
from .audit import AuditEntry
from .bots import Bot, BotEvent
from .choices import Engine
from .hub import ApiToken, Insight, Meeting, MeetingEvent, SearchEntry, Speaker, Summary, Topic, Utterance
from .retention import DeletionRecord, RemoteDeletion
from .workspaces import Invitation, Membership, Role, Workspace

__all__ = [
    "ApiToken", "AuditEntry", "Bot", "BotEvent", "DeletionRecord", "Engine", "Insight", "Invitation", "Meeting", "MeetingEvent",
    "Membership", "Provider", "ProviderAccount", "RemoteDeletion", "Role", "SearchEntry", "Speaker", "Summary",
    "Topic", "Utterance", "Workspace",
]
