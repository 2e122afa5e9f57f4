"""Every WebSocket route: the browser relay and microphone here, the sources' own (Twilio media
streams, bot live audio) from their packages."""
from django.urls import path

from meetings.bots import routing as bot_routing
from telephony import routing as telephony_routing

from . import consumers

websocket_urlpatterns = [
    path("ws/meetings/<int:meeting_id>/", consumers.MeetingRelayConsumer.as_asgi()),
    path("ws/meetings/<int:meeting_id>/audio/", consumers.MicrophoneConsumer.as_asgi()),
    *telephony_routing.websocket_urlpatterns,
    *bot_routing.websocket_urlpatterns,
]
