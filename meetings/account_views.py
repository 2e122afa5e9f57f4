"""Workspace → Provider accounts: admins set, test and remove their workspace's credentials."""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import audit
from .access import ADMIN, workspace_required
from .account_forms import AccountForm
from .crypto import SecretError
from .models import AuditEntry, ProviderAccount
from .providers import PROVIDERS, info, missing_fields, test_connection


def _spec(provider):
    try:
        return info(provider)
    except ValueError:
        raise Http404("No such provider.") from None


def _account(request, spec):
    return ProviderAccount.objects.filter(workspace=request.workspace, provider=spec.provider).first()


def _status(account):
    if account is None:
        return "not set"
    try:
        missing = missing_fields(account)
    except SecretError:
        return "its secrets cannot be decrypted: set them again"
    return f"incomplete: {', '.join(m.lower() for m in missing)} not set" if missing else "set"


@workspace_required(ADMIN)
def account_list(request):
    accounts = {a.provider: a for a in request.workspace.accounts.all()}
    rows = [{"spec": spec, "account": accounts.get(provider), "status": _status(accounts.get(provider))}
            for provider, spec in PROVIDERS.items()]
    return render(request, "meetings/accounts.html", {"rows": rows})


@workspace_required(ADMIN)
def edit(request, provider):
    spec = _spec(provider)
    account = _account(request, spec)
    try:
        form = AccountForm(spec, account, request.POST if request.method == "POST" else None)
    except SecretError as exc:
        messages.error(request, f"{spec.label}: {exc} Remove the account and set it again.")
        return redirect("accounts:list")
    if request.method == "POST" and form.is_valid():
        account, changed = form.save(request.workspace, request.user)
        if changed:
            audit.record(request.user, request.workspace, AuditEntry.Action.ACCOUNT_CHANGED, account,
                         provider=spec.slug, fields=changed)
            messages.success(request, f"{spec.label}: saved ({', '.join(changed)} changed).")
        else:
            messages.info(request, f"{spec.label}: nothing changed.")
        return redirect("accounts:edit", provider=spec.slug)
    return render(request, "meetings/account_edit.html", {"spec": spec, "account": account, "form": form,
                                                          "status": _status(account)})


@require_POST
@workspace_required(ADMIN)
def test(request, provider):
    spec = _spec(provider)
    account = _account(request, spec)
    if account is None:
        messages.error(request, f"{spec.label}: nothing to test yet, save the account first.")
    else:
        result = test_connection(account)
        (messages.success if result.ok else messages.error)(request, f"Test connection: {result.message}")
    return redirect("accounts:edit", provider=spec.slug)


@require_POST
@workspace_required(ADMIN)
def remove(request, provider):
    spec = _spec(provider)
    account = _account(request, spec)
    if account is None:
        raise Http404("This workspace has no such account.")
    fields = sorted({*(k for k, v in account.config.items() if v), *_stored_secret_names(account)})
    audit.record(request.user, request.workspace, AuditEntry.Action.ACCOUNT_REMOVED, account,
                 provider=spec.slug, fields=fields)
    account.delete()
    messages.success(request, f"{spec.label}: account removed.")
    return redirect("accounts:list")


def _stored_secret_names(account):
    try:
        return account.secret_names()
    except SecretError:
        return []
