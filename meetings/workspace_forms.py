"""Forms of the workspace pages: settings, invitations, roles, the audit log filter and sign-up by invitation."""
from django import forms
from django.contrib.auth.forms import UserCreationForm

from .forms import engine_choices
from .models import AuditEntry, Role, Workspace


class WorkspaceForm(forms.Form):
    """A workspace's name and default engine; only engines this Parley has are offered."""

    name = forms.CharField(max_length=Workspace._meta.get_field("name").max_length)
    default_engine = forms.ChoiceField(label="Default engine", choices=[],
                                       help_text="Preselected on the new-session form.")

    def __init__(self, *args, workspace, **kwargs):
        kwargs.setdefault("initial", {"name": workspace.name, "default_engine": workspace.default_engine})
        super().__init__(*args, **kwargs)
        self.fields["default_engine"].choices = engine_choices()


class NewWorkspaceForm(forms.Form):
    name = forms.CharField(max_length=Workspace._meta.get_field("name").max_length)


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SwitchForm(forms.Form):
    workspace = forms.IntegerField()


class AuditFilterForm(forms.Form):
    """The audit log's filters (GET): action, actor's username and a date range, all optional."""

    action = forms.ChoiceField(choices=[("", "Any action")] + AuditEntry.Action.choices, required=False)
    actor = forms.CharField(max_length=150, required=False, label="Actor (username)")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The start of the date range is after its end.")
        return data

    def filter(self, entries):
        """``entries`` narrowed by the valid filters."""
        data = self.cleaned_data
        if data.get("action"):
            entries = entries.filter(action=data["action"])
        if data.get("actor"):
            entries = entries.filter(actor_name__iexact=data["actor"].strip())
        if data.get("since"):
            entries = entries.filter(created_at__date__gte=data["since"])
        if data.get("until"):
            entries = entries.filter(created_at__date__lte=data["until"])
        return entries


class InvitationSignUpForm(UserCreationForm):
    """A new account made on the invitation page; its e-mail is the invitation's."""

    def __init__(self, *args, email, **kwargs):
        self.email = email
        super().__init__(*args, **kwargs)

    def save(self, commit=True):
        user = super().save(commit=False)
        user.email = self.email
        if commit:
            user.save()
        return user
