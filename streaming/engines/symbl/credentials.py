"""Where the Symbl account comes from: the meeting's workspace's provider account (Workspace →
Provider accounts), which an admin sets, or the environment seeds for the first workspace
(``SYMBL_APP_ID``, ``SYMBL_APP_SECRET`` through ``manage.py ensure_admin``)."""
from asgiref.sync import sync_to_async
from django.conf import settings

from .client import NotConfigured, SymblClient


def symbl_credentials(meeting):
    """``(app_id, app_secret)`` of ``meeting``'s workspace's Symbl account (reads the database).

    Raises :class:`NotConfigured` naming the workspace when it has no Symbl account, when the
    account lacks either value, or when its secret cannot be decrypted.
    """
    from meetings.crypto import SecretError
    from meetings.models import Provider, ProviderAccount

    if meeting is None:
        raise NotConfigured("No Symbl app id and secret: the session has no meeting, hence no workspace.", 401)
    account = ProviderAccount.objects.filter(workspace_id=meeting.workspace_id, provider=Provider.SYMBL).first()
    where = f"workspace “{meeting.workspace}”"
    try:
        app_id, app_secret = (account.config.get("app_id", ""), account.secrets().get("app_secret", "")) \
            if account else ("", "")
    except SecretError as exc:
        raise NotConfigured(f"The Symbl app secret of {where} cannot be decrypted: {exc}", 401) from None
    if not app_id or not app_secret:
        raise NotConfigured(f"No Symbl app id and secret are set for {where}: an admin sets them under "
                            "Workspace → Provider accounts.", 401)
    return app_id, app_secret


class WorkspaceSymblClient(SymblClient):
    """A :class:`SymblClient` for one meeting that reads its workspace's account when it first
    needs a token. Engines build their client inside the event loop, where the database may not
    be touched; the account is read off the loop, once."""

    def __init__(self, meeting):
        super().__init__(settings.SYMBL_API_URL, settings.SYMBL_WS_URL, "", "")
        self.meeting = meeting
        self._account_read = False

    async def token(self, *, force=False):
        if not self._account_read:
            self.use_account(*await sync_to_async(symbl_credentials)(self.meeting))
            self._account_read = True
        return await super().token(force=force)


def client_for(meeting):
    """A :class:`SymblClient` on the configured base URLs with ``meeting``'s workspace's account
    (read on the first token request; :class:`NotConfigured` then when there is none)."""
    return WorkspaceSymblClient(meeting)
