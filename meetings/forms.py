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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engine"].choices = engine_choices()

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
