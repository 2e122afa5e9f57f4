"""WebSocket routes of this package (composed into the project's router by streaming/routing.py)."""
from django.urls import path

from .consumers import BotAudioConsumer

websocket_urlpatterns = [
    path("ws/bots/<str:bot_token>/audio", BotAudioConsumer.as_asgi()),
]
