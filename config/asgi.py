"""ASGI entry point: HTTP through Django, WebSockets through Channels.

On the embedded default the session runner pool starts with the first connection the server
handles, as a task on Daphne's event loop (Daphne does not run the ASGI lifespan protocol).
"""
import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Static files are served by the app itself on the embedded default; production puts them
# behind the front proxy after collectstatic (docs/deployment.md).
django_asgi_app = ASGIStaticFilesHandler(get_asgi_application())

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from streaming.routing import browser_urlpatterns, vendor_urlpatterns  # noqa: E402
from streaming.runners import ensure_embedded_pool  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([
            *vendor_urlpatterns,
            re_path(r"", AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(browser_urlpatterns)))),
        ]),
    }
)


async def application(scope, receive, send):
    if scope["type"] in ("http", "websocket"):
        ensure_embedded_pool()
    await router(scope, receive, send)
