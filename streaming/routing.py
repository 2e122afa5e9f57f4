from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/meetings/<int:meeting_id>/", consumers.MeetingRelayConsumer.as_asgi()),
    path("ws/meetings/<int:meeting_id>/audio/", consumers.MicrophoneConsumer.as_asgi()),
]
