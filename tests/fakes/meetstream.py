"""MeetStream's bot API, the cheap authenticated read, on loopback (aiohttp).

* ``GET /api/v1/bots`` with ``Authorization: Token <api key>`` (not Bearer) → 200
  ``{"bots": [...], "hasNextPage": false, "nextCursor": null}``. Source: ``shared/api-contracts.md``
  §11.1 (``meetstream-ai/meetstream-mcp`` ``src/api.js``; https://docs.meetstream.ai/api-reference).

Refusals: a missing ``Authorization`` → 401 ``{"detail": "Authentication credentials were not
provided."}``, a wrong key or scheme → 401 ``{"detail": "Invalid token."}`` (the ``Token`` scheme is
Django REST framework's TokenAuthentication, whose documented messages these are; inferred).

Later issues extend it with bot creation, callbacks and transcripts.
"""
from aiohttp import web

from .http import LoopbackFake, json_error, serve_main


class MeetStreamFake(LoopbackFake):
    name = "meetstream"

    def __init__(self, *, api_key="parley-dev-meetstream-key"):
        super().__init__()
        self.api_key = api_key
        self.bots = []

    def routes(self):
        return [web.get("/api/v1/bots", self.list_bots)]

    @property
    def api_url(self):
        """What ``MEETSTREAM_API_URL`` is set to."""
        return f"{self.url}/api/v1"

    def _authenticate(self, request):
        header = request.headers.get("Authorization")
        if not header:
            raise json_error(401, {"detail": "Authentication credentials were not provided."},
                             headers={"WWW-Authenticate": "Token"})
        scheme, _, key = header.partition(" ")
        if scheme != "Token" or key.strip() != self.api_key:
            raise json_error(401, {"detail": "Invalid token."}, headers={"WWW-Authenticate": "Token"})

    async def list_bots(self, request):
        self._authenticate(request)
        return web.json_response({"bots": list(self.bots), "hasNextPage": False, "nextCursor": None})


def describe(fake):
    """MeetStream's bot API on loopback."""
    return f"MeetStream fake: MEETSTREAM_API_URL={fake.api_url}"


def main(argv=None):
    serve_main(MeetStreamFake, argv, prog="python -m tests.fakes.meetstream", describe=describe, options=[
        ("--api-key", "parley-dev-meetstream-key", "the API key sent as 'Authorization: Token <key>'"),
    ])


if __name__ == "__main__":
    main()
