"""Twilio's request signature, as the voice webhook (``POST /telephony/twilio/voice``,
:mod:`telephony.twilio.views`) checks it.

Twilio signs every request with the account's auth token: ``X-Twilio-Signature`` is
base64(HMAC-SHA1(auth_token, full URL + the sorted POST parameters as name+value))
(https://www.twilio.com/docs/usage/webhooks/webhooks-security). The ``twilio`` package's
:class:`~twilio.request_validator.RequestValidator` checks it; the URL must be the one Twilio
called, so behind a TLS-terminating proxy ``SECURE_PROXY_SSL_HEADER`` (``PARLEY_BEHIND_TLS_PROXY``)
must be set for ``https`` to be seen.
"""
from twilio.request_validator import RequestValidator


def called_url(request):
    """The URL Twilio requested, as it signed it: scheme (``SECURE_PROXY_SSL_HEADER`` respected),
    host, path and query string."""
    return request.build_absolute_uri()


def verify(auth_token, url, params, signature):
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) signs ``url`` and ``params``
    (the POST parameters, a dict or QueryDict) with ``auth_token``."""
    if not signature:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)
