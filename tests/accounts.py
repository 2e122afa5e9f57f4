"""Provider accounts for tests, stored as an admin's form stores them: config in the clear, secrets
encrypted at rest (``meetings.crypto``)."""
from meetings.models import ProviderAccount


def provider_account(workspace, provider, config=None, **secrets):
    """``workspace``'s ``provider`` account (a ``meetings.models.Provider`` value), created or
    replaced, with ``config`` (``{name: value}`` of the non-secret fields) and ``secrets`` (every
    secret field it is to hold; the rest are unset). Saved; call it through ``database_sync_to_async``
    from async tests."""
    account, _ = ProviderAccount.objects.get_or_create(workspace=workspace, provider=provider)
    account.config = dict(config or {})
    account.set_secrets(secrets)
    account.save()
    return account
