from django import forms

from streaming.engines import available_engines

from .models import Meeting

STARTABLE_SOURCES = [
    (Meeting.Source.UPLOAD, Meeting.Source.UPLOAD.label),
    (Meeting.Source.MICROPHONE, Meeting.Source.MICROPHONE.label),
]


def engine_choices():
    """``(name, label)`` of the engines this Parley can run, for a choice field."""
    labels = dict(Meeting.Engine.choices)
    return [(name, labels.get(name, name)) for name in available_engines()]


class StartSessionForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    source = forms.ChoiceField(choices=STARTABLE_SOURCES, initial=Meeting.Source.UPLOAD)
    engine = forms.ChoiceField(choices=[], initial=Meeting.Engine.LOCAL)
    file = forms.FileField(required=False, help_text="Any common audio or video file.")
    realtime = forms.BooleanField(
        required=False, label="Play at real-time pace", help_text="Watch it live, as if the meeting were happening now."
    )
    trackers = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Pricing: price, discount, budget"}),
        help_text="Phrases to track, one tracker per line as 'Name: phrase, phrase' (engines that detect trackers).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engine"].choices = engine_choices()

    def clean_trackers(self):
        """``[{"name", "vocabulary": [phrase, ...]}]`` from 'Name: phrase, phrase' lines."""
        trackers = []
        for number, line in enumerate(self.cleaned_data["trackers"].splitlines(), 1):
            if not line.strip():
                continue
            name, colon, phrases = line.partition(":")
            vocabulary = [p.strip() for p in phrases.split(",") if p.strip()]
            if not colon or not name.strip() or not vocabulary:
                raise forms.ValidationError(f"Line {number}: write a tracker as 'Name: phrase, phrase'.")
            trackers.append({"name": name.strip()[:100], "vocabulary": vocabulary[:50]})
        return trackers

    def clean(self):
        data = super().clean()
        if data.get("source") == Meeting.Source.UPLOAD and not data.get("file"):
            self.add_error("file", "Choose a recording to upload.")
        return data


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, initial="API token")


class SpeakerNameForm(forms.Form):
    name = forms.CharField(max_length=200)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A speaker needs a name.")
        return name


class ActionItemForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    assignee = forms.CharField(max_length=200, required=False)
    due = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    done = forms.BooleanField(required=False)
