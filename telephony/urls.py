from django.urls import path

from . import views
from .dialin import views as dialin_views
from .twilio import views as twilio_views

app_name = "telephony"

urlpatterns = [
    path("twilio/voice", twilio_views.voice, name="twilio-voice"),
    path("dial-in/new", dialin_views.new, name="dial-in-new"),
    path("dial-in/<int:meeting_id>/", dialin_views.call, name="dial-in"),
    path("dial-in/<int:meeting_id>/speaker", dialin_views.speaker, name="dial-in-speaker"),
    path("meetings/<int:meeting_id>/summary-recipients", views.summary_recipients, name="summary-recipients"),
]
