"""Parley's own absolute URLs, for what is read outside a browser session: e-mails and the
callbacks a provider is told to call."""
from django.conf import settings


def public_origin(request=None):
    """Parley's scheme and host as others must reach it, without a trailing slash:
    ``PARLEY_PUBLIC_URL`` when set (behind a proxy or a tunnel), else ``request``'s, else the
    embedded default's ``http://127.0.0.1:8000``."""
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return "http://127.0.0.1:8000"
