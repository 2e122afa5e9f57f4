"""Forms of the retention pages: the workspace's default policy and a meeting's override.

Both read "keep", or "delete after N hours|days" with N a positive whole number;
``cleaned_data["retention"]`` is the resulting timedelta (None: keep, or inherit).
"""
from datetime import timedelta

from django import forms

from .models import Meeting

KEEP, DELETE, INHERIT = Meeting.Retention.KEEP, Meeting.Retention.DELETE, Meeting.Retention.INHERIT
UNITS = {"hours": timedelta(hours=1), "days": timedelta(days=1)}
# About a century: far beyond any policy, well inside what a DurationField holds.
MAX_DAYS = 36500
MAX_AMOUNT = {"hours": MAX_DAYS * 24, "days": MAX_DAYS}
POSITIVE = "Enter a positive whole number of hours or days (1 or more); to keep meetings, choose Keep."


def split(retention):
    """``(amount, unit)`` for showing a timedelta in the form: whole days as days, else hours."""
    if retention is None:
        return None, "days"
    if retention % UNITS["days"] == timedelta(0):
        return retention // UNITS["days"], "days"
    return max(1, round(retention / UNITS["hours"])), "hours"


class _RetentionForm(forms.Form):
    policy = forms.ChoiceField(widget=forms.RadioSelect)
    amount = forms.IntegerField(required=False, label="Delete after",
                                error_messages={"invalid": POSITIVE},
                                widget=forms.NumberInput(attrs={"min": 1, "step": 1}))
    unit = forms.ChoiceField(choices=[("hours", "hours"), ("days", "days")], initial="days")

    def clean(self):
        data = super().clean()
        if data.get("policy") != DELETE:
            data["retention"] = None
            return data
        amount, unit = data.get("amount"), data.get("unit")
        if amount is None:
            if "amount" not in self.errors:
                self.add_error("amount", "Say after how many hours or days to delete meetings.")
        elif amount < 1:
            self.add_error("amount", POSITIVE)
        elif unit and amount > MAX_AMOUNT[unit]:
            self.add_error("amount", f"At most {MAX_AMOUNT[unit]} {unit}; to keep meetings, choose Keep.")
        elif unit:
            data["retention"] = amount * UNITS[unit]
        return data


class WorkspaceRetentionForm(_RetentionForm):
    """The workspace default: keep, or delete ended meetings after N hours or days."""

    def __init__(self, *args, workspace, **kwargs):
        amount, unit = split(workspace.retention)
        kwargs.setdefault("initial", {"policy": KEEP if workspace.retention is None else DELETE,
                                      "amount": amount, "unit": unit})
        super().__init__(*args, **kwargs)
        self.fields["policy"].choices = [(KEEP, "Keep meetings"), (DELETE, "Delete ended meetings after")]


class MeetingRetentionForm(_RetentionForm):
    """A meeting's override: as the workspace, keep, or delete after N hours or days."""

    def __init__(self, *args, meeting, **kwargs):
        amount, unit = split(meeting.retention if meeting.retention_override == DELETE else None)
        kwargs.setdefault("initial", {"policy": meeting.retention_override, "amount": amount, "unit": unit})
        kwargs.setdefault("prefix", "retention")
        super().__init__(*args, **kwargs)
        self.fields["policy"].choices = [(INHERIT, "As the workspace"), (KEEP, "Keep"), (DELETE, "Delete after")]
