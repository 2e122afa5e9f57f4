"""The Zoom session start form."""
from django import forms

from meetings.forms import StartSessionForm, engine_choices


class ZoomStartForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    zoom_meeting_id = forms.CharField(label="Zoom meeting ID", max_length=20,
                                      widget=forms.TextInput(attrs={"placeholder": "857 4606 5432",
                                                                    "inputmode": "numeric"}),
                                      help_text="The number in the meeting's invitation link (zoom.us/j/…).")
    engine = forms.ChoiceField(choices=[])
    auto_start = forms.BooleanField(required=False, label="Start when the Zoom meeting starts",
                                    help_text="Parley waits for Zoom's meeting.started notification "
                                              "(the Zoom app's event notifications point at /streaming/zoom/webhook).")
    trackers = StartSessionForm.base_fields["trackers"]
    # One parser for tracker lines, the start form's.
    clean_trackers = StartSessionForm.clean_trackers

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engine"].choices = engine_choices()
