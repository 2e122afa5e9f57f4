"""WebSocket routes of this package (composed into the project's router by streaming/routing.py)."""

websocket_urlpatterns = []
