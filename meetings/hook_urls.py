"""Provider callbacks, per workspace: ``/hooks/<hook_key>/…``. Signed by the provider, not by a
session or CSRF token (see ``meetings.hooks``)."""
from django.urls import path

from streaming.zoom import webhooks as zoom
from telephony import twilio_hooks as twilio

from . import bot_hooks

app_name = "hooks"

urlpatterns = [
    path("<str:hook_key>/zoom", zoom.webhook, name="zoom"),
    path("<str:hook_key>/twilio/voice", twilio.voice, name="twilio-voice"),
    path("<str:hook_key>/twilio/status", twilio.status, name="twilio-status"),
    path("<str:hook_key>/meetstream", bot_hooks.callback, name="meetstream"),
]
