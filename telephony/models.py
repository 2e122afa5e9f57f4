"""What Parley keeps of a phone session beyond its :class:`~meetings.models.Meeting`.

* :class:`TwilioCall`: a call Twilio put through to the voice webhook, the Media Streams socket it
  was told to open (``stream_url``, exactly as written in the TwiML, because Twilio signs that
  URL) and what arrived on it.
* :class:`DialIn`: a PSTN or SIP dial-in through Symbl's Telephony API
  (https://docs.symbl.ai/docs/telephony/reference/reference, ``shared/api-contracts.md`` §4): the
  endpoint dialed, the DTMF sequence played after it connects, and the ids Symbl returned.
* :class:`SummaryEmail`: who gets Parley's summary e-mail when a session (of any source) ends,
  and when it went.
"""
from django.db import models

from meetings.models import Meeting


class TwilioCall(models.Model):
    class Mode(models.TextChoices):
        # <Connect><Stream>: Twilio streams the caller (inbound track) and waits on the socket.
        CONNECT = "connect", "Connect (the call talks to Parley)"
        # <Start><Stream track="both_tracks">: a fork; the call goes on elsewhere (<Dial>).
        FORK = "fork", "Fork (both tracks, the call continues)"

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="twilio_call")
    account_sid = models.CharField(max_length=34)
    call_sid = models.CharField(max_length=34, db_index=True)
    from_number = models.CharField(max_length=64, blank=True)
    to_number = models.CharField(max_length=64, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.CONNECT)
    forward_to = models.CharField(max_length=64, blank=True, help_text="E.164 number a forked call is dialed on to.")
    stream_url = models.CharField(max_length=500, help_text="The <Stream url> of the TwiML answer, as Twilio signs it.")
    stream_sid = models.CharField(max_length=64, blank=True)
    tracks = models.JSONField(default=list, blank=True)
    media_frames = models.PositiveBigIntegerField(default=0)
    bad_frames = models.PositiveIntegerField(default=0, help_text="Media messages whose payload could not be read.")
    dtmf = models.CharField(max_length=200, blank=True, help_text="Digits the caller pressed, in order.")
    connected_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Twilio call {self.call_sid}"


class DialIn(models.Model):
    class Type(models.TextChoices):
        PSTN = "pstn", "Phone number (PSTN)"
        SIP = "sip", "SIP URI"

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="dial_in")
    endpoint_type = models.CharField(max_length=4, choices=Type.choices, default=Type.PSTN)
    phone_number = models.CharField(max_length=20, blank=True, help_text="E.164, with its '+'.")
    sip_uri = models.CharField(max_length=300, blank=True)
    dtmf = models.CharField(max_length=100, blank=True, help_text="Played after the call connects: digits * # , w.")
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone of the conversation.")
    symbl_summary_email = models.BooleanField(default=False, help_text="Also ask Symbl to send its summary e-mail.")
    connection_id = models.CharField(max_length=100, blank=True)
    conversation_id = models.CharField(max_length=100, blank=True)
    event_url = models.CharField(max_length=500, blank=True)
    result_websocket_url = models.CharField(max_length=500, blank=True)
    summary_urls = models.JSONField(default=list, blank=True, help_text="Symbl's summaryInfo after the stop.")

    def __str__(self):
        return f"Dial-in {self.phone_number or self.sip_uri}"

    @property
    def symbl_phone_number(self):
        """The number as Symbl's Telephony API takes it: E.164 digits without the '+'."""
        return self.phone_number.lstrip("+")


class SummaryEmail(models.Model):
    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="summary_email")
    recipients = models.JSONField(default=list, help_text="E-mail addresses, validated when set.")
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Summary e-mail of meeting {self.meeting_id} to {', '.join(self.recipients)}"
