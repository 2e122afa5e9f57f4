"""Zoom's OAuth endpoint for Server-to-Server OAuth apps, on loopback (aiohttp).

* ``POST /oauth/token?grant_type=account_credentials&account_id={id}`` (the parameters may also be
  an ``application/x-www-form-urlencoded`` body) with ``Authorization: Basic
  base64(client_id:client_secret)`` → 200 ``{"access_token", "token_type": "bearer",
  "expires_in": 3599, "scope", "api_url"}``. Sources: https://developers.zoom.us/docs/internal-apps/s2s-oauth/
  and ``shared/api-contracts.md`` §8.

It refuses what Zoom refuses, with Zoom's OAuth error shape ``{"reason", "error"}``
(https://developers.zoom.us/docs/integrations/oauth-error-messages/): a wrong client id or secret →
401 ``invalid_client``; no Basic credentials → 400 ``invalid_request``; another grant type → 400
``unsupported_grant_type``; a missing or unknown account id → 400 ``invalid_request`` (the exact
reason strings of these last two are not published: inferred).

Later issues extend it with the REST API (``/v2/...``) and webhook delivery.
"""
import secrets

from aiohttp import web

from .http import LoopbackFake, basic_credentials, json_error, serve_main

TOKEN_SECONDS = 3599


class ZoomFake(LoopbackFake):
    name = "zoom"

    def __init__(self, *, account_id="parley-dev-account", client_id="parley-dev-client",
                 client_secret="parley-dev-client-secret", scope="meeting:read:admin meeting:write:admin"):
        super().__init__()
        self.account_id, self.client_id, self.client_secret, self.scope = account_id, client_id, client_secret, scope
        self.tokens = {}  # access token -> account id

    def routes(self):
        return [web.post("/oauth/token", self.oauth_token)]

    @property
    def oauth_url(self):
        """What ``ZOOM_OAUTH_URL`` is set to."""
        return self.url

    async def oauth_token(self, request):
        params = dict(request.query)
        if request.content_type == "application/x-www-form-urlencoded":
            params.update(await request.post())
        credentials = basic_credentials(request)
        if credentials is None:
            raise json_error(400, {"reason": "Client ID or client secret is missing", "error": "invalid_request"})
        if credentials != (self.client_id, self.client_secret):
            raise json_error(401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"})
        if params.get("grant_type") != "account_credentials":
            raise json_error(400, {"reason": "unsupported grant type", "error": "unsupported_grant_type"})
        if not params.get("account_id"):
            raise json_error(400, {"reason": "Missing account_id", "error": "invalid_request"})
        if params["account_id"] != self.account_id:
            raise json_error(400, {"reason": "Invalid account_id", "error": "invalid_request"})
        token = "eyJzm." + secrets.token_urlsafe(32)
        self.tokens[token] = self.account_id
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": TOKEN_SECONDS,
                                  "scope": self.scope, "api_url": "https://api.zoom.us"})


def describe(fake):
    """Zoom Server-to-Server OAuth on loopback."""
    return f"Zoom fake: ZOOM_OAUTH_URL={fake.oauth_url} account {fake.account_id!r} client {fake.client_id!r}"


def main(argv=None):
    serve_main(ZoomFake, argv, prog="python -m tests.fakes.zoom", describe=describe, options=[
        ("--account-id", "parley-dev-account", "the S2S app's account id"),
        ("--client-id", "parley-dev-client", "the app's client id"),
        ("--client-secret", "parley-dev-client-secret", "the app's client secret"),
    ])


if __name__ == "__main__":
    main()
