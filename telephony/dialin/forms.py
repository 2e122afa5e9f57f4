"""The dial-in form, shared by the page (``/telephony/dial-in/new``) and the JSON API
(``POST /api/v1/meetings/`` with ``"source": "dial_in"``).

Bad input gets a clear message per field: a phone number that is not one (``phonenumbers``), a
SIP URI without a host, an unknown IANA time zone (``zoneinfo``), a DTMF sequence with characters
other than digits, ``*``, ``#``, ``,`` and ``w``, an e-mail address that is not one.
"""
import re
import zoneinfo

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .. import phones
from ..models import DialIn

MAX_RECIPIENTS = 20


def _timezones():
    return zoneinfo.available_timezones()


class DialInForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, label="Session name")
    endpoint_type = forms.ChoiceField(choices=DialIn.Type.choices, initial=DialIn.Type.PSTN, required=False, label="Dial")
    phone_number = forms.CharField(max_length=40, required=False, label="Phone number",
                                   help_text="With its country code: +1 646 558 8656.")
    sip_uri = forms.CharField(max_length=300, required=False, label="SIP URI", help_text="sip:1234@sip.example.com")
    conference_id = forms.CharField(max_length=40, required=False, label="Meeting ID",
                                    help_text="Zoom and other conferencing: the meeting's ID, dialed after the call connects.")
    passcode = forms.CharField(max_length=40, required=False, label="Passcode")
    dtmf = forms.CharField(max_length=100, required=False, label="DTMF sequence",
                           help_text="Or the whole sequence yourself: digits, *, #, ',' (a pause) and w.")
    timezone = forms.CharField(max_length=64, initial="UTC", required=False, label="Time zone",
                               help_text="IANA name: Europe/Paris (UTC when left empty).")
    language = forms.CharField(max_length=20, initial="en-US", required=False)
    summary_emails = forms.CharField(required=False, label="Send the summary to",
                                     help_text="E-mail addresses, separated by commas or new lines.",
                                     widget=forms.Textarea(attrs={"rows": 2}))
    symbl_summary_email = forms.BooleanField(required=False, label="Also ask Symbl to send its summary e-mail")

    def _type(self):
        return self.data.get("endpoint_type") or DialIn.Type.PSTN

    def clean_endpoint_type(self):
        return self.cleaned_data["endpoint_type"] or DialIn.Type.PSTN

    def clean_phone_number(self):
        value = self.cleaned_data["phone_number"]
        if self._type() != DialIn.Type.PSTN:
            return ""
        try:
            return phones.e164(value)
        except phones.InvalidInput as exc:
            raise ValidationError(str(exc)) from None

    def clean_sip_uri(self):
        value = self.cleaned_data["sip_uri"]
        if self._type() != DialIn.Type.SIP:
            return ""
        try:
            return phones.sip_uri(value)
        except phones.InvalidInput as exc:
            raise ValidationError(str(exc)) from None

    def clean_dtmf(self):
        try:
            return phones.dtmf(self.cleaned_data["dtmf"])
        except phones.InvalidInput as exc:
            raise ValidationError(str(exc)) from None

    def clean_timezone(self):
        name = (self.cleaned_data["timezone"] or "").strip() or "UTC"
        if name not in _timezones():
            raise ValidationError(f"“{name}” is not an IANA time zone (like America/New_York or Europe/Paris).")
        return name

    def clean_language(self):
        return (self.cleaned_data["language"] or "").strip() or "en-US"

    def clean_summary_emails(self):
        raw = self.cleaned_data["summary_emails"]
        if isinstance(raw, (list, tuple)):
            raw = ",".join(str(a) for a in raw)
        addresses = [a.strip() for a in re.split(r"[,;\s]+", raw or "") if a.strip()]
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"“{address}” is not an e-mail address.") from None
        if len(addresses) > MAX_RECIPIENTS:
            raise ValidationError(f"At most {MAX_RECIPIENTS} recipients.")
        return list(dict.fromkeys(addresses))

    def clean(self):
        data = super().clean()
        if "dtmf" in data and not data["dtmf"]:
            try:
                data["dtmf"] = phones.conference_dtmf(data.get("conference_id", ""), data.get("passcode", ""))
            except phones.InvalidInput as exc:
                self.add_error("conference_id", str(exc))
        if data.get("symbl_summary_email") and not data.get("summary_emails"):
            self.add_error("summary_emails", "Symbl's summary e-mail needs at least one recipient.")
        return data

    def error_text(self):
        """All errors as one line, for the API's 400."""
        return " ".join(f"{'' if field == '__all__' else field + ': '}{error}"
                        for field, errors in self.errors.items() for error in errors)
