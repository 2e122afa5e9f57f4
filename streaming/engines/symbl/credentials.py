"""Where the Symbl account comes from: the one place issue 7 (workspaces) swaps for the workspace's account."""
from django.conf import settings

from .client import SymblClient


def symbl_credentials(meeting=None):
    """``(app_id, app_secret)`` for ``meeting``'s account; today the environment's (``SYMBL_APP_ID``,
    ``SYMBL_APP_SECRET``) for every meeting."""
    return settings.SYMBL_APP_ID, settings.SYMBL_APP_SECRET


def client_for(meeting=None):
    """A :class:`SymblClient` on the configured base URLs with ``meeting``'s account."""
    app_id, app_secret = symbl_credentials(meeting)
    return SymblClient(settings.SYMBL_API_URL, settings.SYMBL_WS_URL, app_id, app_secret)
