"""The provider account form: non-secret fields shown and editable; secret fields write-only."""
from django import forms

from .models import ProviderAccount
from .providers import TWILIO_SID, apply_changes


class AccountForm(forms.Form):
    """One provider's fields (``spec``: a :class:`meetings.providers.ProviderInfo`).

    A secret field is always rendered empty (``PasswordInput(render_value=False)``): a blank
    submission keeps the stored value; ``clear_<name>``, offered when a value is stored, removes it.
    """

    def __init__(self, spec, account=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec, self.account = spec, account
        stored = set(account.secret_names()) if account else set()
        config = account.config if account else {}
        for field in spec.fields:
            if field.secret:
                self.fields[field.name] = forms.CharField(
                    label=field.label, required=False, max_length=500, help_text=field.help,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
                if field.name in stored:
                    self.fields[f"clear_{field.name}"] = forms.BooleanField(
                        label="Clear the stored value", required=False)
            else:
                self.fields[field.name] = forms.CharField(
                    label=field.label, required=False, max_length=200, help_text=field.help,
                    initial=config.get(field.name, ""))
        self.stored = stored

    def rows(self):
        """``(bound field, stored, bound clear field or None)`` in the provider's order, for the template."""
        return [(self[f.name], f.name in self.stored,
                 self[f"clear_{f.name}"] if f"clear_{f.name}" in self.fields else None) for f in self.spec.fields]

    def clean(self):
        data = super().clean()
        for field in self.spec.fields:
            if field.secret and data.get(field.name) and data.get(f"clear_{field.name}"):
                self.add_error(field.name, "Enter a new value or clear the stored one, not both.")
        sid = data.get("account_sid")
        if self.spec.slug == "twilio" and sid and not TWILIO_SID.fullmatch(sid):
            self.add_error("account_sid", "An account SID is AC followed by 32 hexadecimal digits.")
        return data

    def save(self, workspace, user):
        """Create or update the account; returns ``(account, names of the fields changed)``."""
        account = self.account or ProviderAccount(workspace=workspace, provider=self.spec.provider)
        data = self.cleaned_data
        config = {f.name: data.get(f.name, "") for f in self.spec.fields if not f.secret}
        secrets = {f.name: None if data.get(f"clear_{f.name}") else data.get(f.name, "")
                   for f in self.spec.fields if f.secret}
        return account, apply_changes(account, config, secrets, user)
