"""Provider callbacks (``/hooks/<hook_key>/…``): which workspace a callback is for, and its secret.

Each vendor's module (``streaming.zoom.webhooks``, ``telephony.twilio_hooks``,
``meetings.bot_hooks``) verifies its own signature scheme; this module only finds the signing
secret. Callbacks carry no session and no CSRF token: the signature is their authentication, so a
workspace whose account has no signing secret accepts nothing (404 "not configured").
"""
import logging

from django.http import Http404

from .models import ProviderAccount, Workspace

log = logging.getLogger(__name__)


def signing_secret(hook_key, provider, name):
    """``(workspace, secret)`` for a callback to ``hook_key`` from ``provider``.

    ``name`` is the secret field of the workspace's :class:`ProviderAccount` that signs the
    callbacks (``"webhook_secret_token"`` for Zoom, ``"auth_token"`` for Twilio,
    ``"webhook_secret"`` for MeetStream). Raises :class:`~django.http.Http404` for an unknown
    key, and for a workspace without that account or secret.
    """
    workspace = Workspace.objects.filter(hook_key=hook_key).first()
    if workspace is None:
        raise Http404("No such callback.")
    account = ProviderAccount.objects.filter(workspace=workspace, provider=provider).first()
    secret = account.secrets().get(name) if account is not None else None
    if not secret:
        log.info("Refused a %s callback for workspace %s: no %s is configured", provider, workspace.pk, name)
        raise Http404(f"{ProviderAccount.Provider(provider).label} callbacks are not configured for this workspace.")
    return workspace, secret


def client_address(request):
    """The caller's address, for log lines."""
    return request.META.get("REMOTE_ADDR", "?")
