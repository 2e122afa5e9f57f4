"""Every WebSocket route: the browser relay and microphone here, the sources' own (Twilio media
streams, bot live audio) from their packages."""
from django.urls import path

from meetings.bots import routing as bot_routing
from telephony import routing as telephony_routing

from . import consumers

# Browsers' sockets: signed in by session cookie, with an Origin this site allows.
browser_urlpatterns = [
    path("ws/meetings/<int:meeting_id>/", consumers.MeetingRelayConsumer.as_asgi()),
    path("ws/meetings/<int:meeting_id>/audio/", consumers.MicrophoneConsumer.as_asgi()),
]
# Vendors' sockets (Twilio media streams, a bot's live audio) send no browser Origin: each
# consumer checks the vendor's signature or the bot's token in connect().
vendor_urlpatterns = [
    *telephony_routing.websocket_urlpatterns,
    *bot_routing.websocket_urlpatterns,
]
websocket_urlpatterns = [*browser_urlpatterns, *vendor_urlpatterns]
