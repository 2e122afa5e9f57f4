"""Deepgram's management API, the cheap authenticated read, on loopback (aiohttp).

* ``GET /v1/projects`` with ``Authorization: Token <api key>`` → 200 ``{"projects": [{"project_id",
  "name"}]}`` (https://developers.deepgram.com/reference/management-api/projects/list).

Refusal: a missing or wrong key → 401 ``{"err_code": "INVALID_AUTH", "err_msg": "Invalid
credentials.", "request_id"}`` (the body Deepgram answers, as reported in public issue threads).

Later issues extend it with ``/v1/listen`` (pre-recorded and streaming).
"""
import uuid

from aiohttp import web

from .http import LoopbackFake, json_error, serve_main


class DeepgramFake(LoopbackFake):
    name = "deepgram"

    def __init__(self, *, api_key="parley-dev-deepgram-key", project="Parley test project"):
        super().__init__()
        self.api_key = api_key
        self.projects = [{"project_id": str(uuid.uuid4()), "name": project}]

    def routes(self):
        return [web.get("/v1/projects", self.list_projects)]

    def _authenticate(self, request):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "token" or key.strip() != self.api_key:
            raise json_error(401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.",
                                   "request_id": str(uuid.uuid4())})

    async def list_projects(self, request):
        self._authenticate(request)
        return web.json_response({"projects": list(self.projects)})


def describe(fake):
    """Deepgram's API on loopback."""
    return f"Deepgram fake: DEEPGRAM_API_URL={fake.url}"


def main(argv=None):
    serve_main(DeepgramFake, argv, prog="python -m tests.fakes.deepgram", describe=describe, options=[
        ("--api-key", "parley-dev-deepgram-key", "the API key sent as 'Authorization: Token <key>'"),
    ])


if __name__ == "__main__":
    main()
