"""Which workspace a Twilio request belongs to: the one whose Twilio provider account has the
request's ``AccountSid`` (Workspace → Provider accounts; seeded from ``TWILIO_ACCOUNT_SID`` and
``TWILIO_AUTH_TOKEN``)."""
import logging

from meetings.crypto import SecretError
from meetings.models import Membership, Provider, ProviderAccount

log = logging.getLogger(__name__)


class NoAccount(LookupError):
    """No workspace can take this call; the message is what the caller hears."""


def account_for(account_sid):
    """``(workspace, auth_token)`` of the workspace whose Twilio account SID is ``account_sid``.

    Raises :class:`NoAccount` when none has it, or its auth token is not set or cannot be decrypted.
    """
    account = (ProviderAccount.objects.select_related("workspace")
               .filter(provider=Provider.TWILIO, config__account_sid=account_sid or "").first()) if account_sid else None
    if account is None:
        raise NoAccount("This Twilio account is not connected to any Parley workspace.")
    try:
        token = account.secrets().get("auth_token", "")
    except SecretError as exc:
        log.warning("Twilio account %s of workspace %s: auth token unreadable (%s)", account_sid,
                    account.workspace_id, exc)
        token = ""
    if not token:
        raise NoAccount("The Parley workspace for this Twilio account has no auth token set.")
    return account.workspace, token


def call_owner(workspace):
    """Who owns a call's meeting: the workspace's longest-standing admin (a call has no signed-in user)."""
    membership = (Membership.objects.select_related("user")
                  .filter(workspace=workspace, role=Membership.Role.ADMIN, user__is_active=True)
                  .order_by("joined_at", "pk").first())
    return membership.user if membership else None
