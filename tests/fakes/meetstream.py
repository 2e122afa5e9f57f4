"""MeetStream's bot API, the cheap authenticated read, on loopback (aiohttp).

* ``GET /api/v1/bots`` with ``Authorization: Token <api key>`` (not Bearer) → 200
  ``{"bots": [...], "hasNextPage": false, "nextCursor": null}``. Source: ``shared/api-contracts.md``
  §11.1 (``meetstream-ai/meetstream-mcp`` ``src/api.js``; https://docs.meetstream.ai/api-reference).

* ``DELETE /api/v1/bots/{bot_id}/delete`` → 200 ``{"success": true, "message": "Bot data deleted
  successfully"}`` for a bot whose data it holds (``data``), which is then gone; 404 ``{"detail":
  "Not found."}`` for one it does not hold. ``fail_next`` answers that many deletions 500
  ``{"detail": "Internal server error"}`` first, deleting nothing.

Refusals: a missing ``Authorization`` → 401 ``{"detail": "Authentication credentials were not
provided."}``, a wrong key or scheme → 401 ``{"detail": "Invalid token."}`` (the ``Token`` scheme is
Django REST framework's TokenAuthentication, whose documented messages these are; inferred).

Later issues extend it with bot creation, callbacks and transcripts.
"""
from aiohttp import web

from .http import LoopbackFake, json_error, serve_main


class MeetStreamFake(LoopbackFake):
    name = "meetstream"

    def __init__(self, *, api_key="parley-dev-meetstream-key", data=(), fail_next=0):
        super().__init__()
        self.api_key = api_key
        self.bots = []
        self.data = set(data)  # ids of the bots whose data it holds
        self.fail_next = fail_next

    def routes(self):
        return [web.get("/api/v1/bots", self.list_bots), web.delete("/api/v1/bots/{bot_id}/delete", self.delete_data)]

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

    async def delete_data(self, request):
        self._authenticate(request)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise json_error(500, {"detail": "Internal server error"})
        bot_id = request.match_info["bot_id"]
        if bot_id not in self.data:
            raise json_error(404, {"detail": "Not found."})
        self.data.discard(bot_id)
        return web.json_response({"success": True, "message": "Bot data deleted successfully"})


def describe(fake):
    """MeetStream's bot API on loopback."""
    return f"MeetStream fake: MEETSTREAM_API_URL={fake.api_url}"


def main(argv=None):
    serve_main(MeetStreamFake, argv, prog="python -m tests.fakes.meetstream", describe=describe, options=[
        ("--api-key", "parley-dev-meetstream-key", "the API key sent as 'Authorization: Token <key>'"),
    ])


if __name__ == "__main__":
    main()
