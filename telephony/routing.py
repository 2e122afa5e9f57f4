"""WebSocket routes of this package (composed into the project's router by streaming/routing.py)."""
from django.urls import path

from .twilio.consumers import TwilioMediaConsumer

websocket_urlpatterns = [
    path("telephony/twilio/media", TwilioMediaConsumer.as_asgi()),
]
