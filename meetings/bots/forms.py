"""The bot form: which meeting, how the bot appears, what it records and transcribes, when it joins.

Everything a vendor would refuse is refused here first, with a message, so nothing is sent:
a link that is not a Zoom, Google Meet or Teams meeting, a join time in the past, and
automatic-leave timeouts outside MeetStream's limits (SEED-004, api-contracts §11.1).
"""
import re
from urllib.parse import urlsplit

from django import forms
from django.utils import timezone

from meetings.models import Bot

# Meeting links by platform (the forms their invitations carry).
ZOOM = re.compile(r"^(?:[\w-]+\.)?zoom(?:gov)?\.us$")
ZOOM_PATH = re.compile(r"^/(?:j|w|s|wc/join|my)/[\w.-]+/?$")
MEET_PATH = re.compile(r"^/[a-z]{3}-[a-z]{4}-[a-z]{3}/?$")
TEAMS_PATH = re.compile(r"^/(?:l/meetup-join/.+|meet/\d{6,}/?)$")

# MeetStream's automatic_leave limits, seconds: (minimum, maximum or None, help).
TIMEOUT_LIMITS = {
    "waiting_room_timeout": (1, None, "Seconds to wait if the bot is stuck in the waiting room."),
    "everyone_left_timeout": (1, None, "Seconds to wait after every participant has left."),
    "in_call_recording_timeout": (600, None, "Longest recording, seconds (at least 600)."),
    "recording_permission_denied_timeout": (60, 300, "Zoom only: seconds to wait when recording is refused (60–300)."),
}


def recognise(url):
    """The :class:`Bot.Platform` of a meeting link, or None when it is not one."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        return None
    if ZOOM.match(host) and ZOOM_PATH.match(parts.path):
        return Bot.Platform.ZOOM
    if host == "meet.google.com" and MEET_PATH.match(parts.path):
        return Bot.Platform.GOOGLE_MEET
    if host in ("teams.microsoft.com", "teams.live.com") and TEAMS_PATH.match(parts.path):
        return Bot.Platform.TEAMS
    return None


class BotForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    meeting_url = forms.CharField(
        max_length=1000, label="Meeting link",
        help_text="A Zoom (https://zoom.us/j/…), Google Meet (https://meet.google.com/abc-defg-hij) or "
                  "Microsoft Teams (https://teams.microsoft.com/l/meetup-join/…) link.")
    bot_name = forms.CharField(max_length=100, initial="Parley Notetaker")
    join_message = forms.CharField(max_length=500, required=False, help_text="Said in the chat when the bot joins.")
    image_url = forms.URLField(max_length=1000, required=False, label="Bot image URL", assume_scheme="https",
                               help_text="A public https JPEG, PNG or GIF image.")
    audio_required = forms.BooleanField(required=False, initial=True)
    video_required = forms.BooleanField(required=False, initial=False)
    live_transcription = forms.BooleanField(required=False, initial=True,
                                            help_text="The vendor's streaming transcript, shown live.")
    live_audio = forms.BooleanField(required=False, initial=False,
                                    help_text="The bot streams each speaker's audio to Parley.")
    transcription = forms.ChoiceField(choices=Bot.Transcription.choices, initial=Bot.Transcription.DEEPGRAM_STREAMING)
    join_at = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                  help_text="Empty: join now.")
    retention_hours = forms.IntegerField(required=False, min_value=1, max_value=24 * 365,
                                         help_text="Hours the vendor keeps the recording; empty is its default (7 days).")
    participant_events = forms.BooleanField(required=False, initial=True, label="Realtime participant events")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (low, high, help_text) in TIMEOUT_LIMITS.items():
            default = Bot.TIMEOUT_DEFAULTS[name]
            self.fields[name] = forms.IntegerField(
                required=False, min_value=low, max_value=high, initial=default,
                help_text=f"{help_text} Default {default}.")

    def clean_meeting_url(self):
        url = self.cleaned_data["meeting_url"].strip()
        platform = recognise(url)
        if platform is None:
            raise forms.ValidationError(
                "This is not a meeting link: use an https link to a Zoom, Google Meet or Microsoft Teams meeting.")
        self.cleaned_data["platform"] = platform
        return url

    def clean_image_url(self):
        url = self.cleaned_data["image_url"]
        if url and (not url.startswith("https://") or not re.search(r"\.(jpe?g|png|gif)$", urlsplit(url).path, re.I)):
            raise forms.ValidationError("The bot image must be an https link to a .jpg, .jpeg, .png or .gif file.")
        return url

    def clean_join_at(self):
        when = self.cleaned_data["join_at"]
        if when is not None and when < timezone.now():
            raise forms.ValidationError("The join time is in the past.")
        return when

    def clean(self):
        data = super().clean()
        for name in TIMEOUT_LIMITS:
            if data.get(name) is None and name not in self.errors:
                data[name] = Bot.TIMEOUT_DEFAULTS[name]
        kind = data.get("transcription")
        if kind == Bot.Transcription.PARLEY:
            # Parley transcribes the bot's audio itself: the vendor's live transcript has no provider.
            data["live_audio"] = True
            data["live_transcription"] = False
        elif data.get("live_transcription") and kind not in Bot.STREAMING:
            self.add_error("transcription", "Live transcription needs a streaming provider (Deepgram or AssemblyAI, "
                                            "live), or Parley's engine.")
        if data.get("video_required") is False and data.get("audio_required") is False:
            self.add_error("audio_required", "The bot must record audio, video or both.")
        return data

    def bot_fields(self):
        """The cleaned data as :class:`Bot` fields."""
        data = self.cleaned_data
        names = ["meeting_url", "platform", "bot_name", "join_message", "image_url", "audio_required",
                 "video_required", "live_transcription", "live_audio", "transcription", "join_at", "retention_hours",
                 "participant_events", *TIMEOUT_LIMITS]
        return {name: data[name] for name in names}
