"""AssemblyAI's transcript API, the cheap authenticated read, on loopback (aiohttp).

* ``GET /v2/transcript?limit=N`` with ``Authorization: <api key>`` (the bare key) → 200
  ``{"page_details": {"limit", "result_count", "current_url", "prev_url", "next_url"},
  "transcripts": [...]}`` (https://www.assemblyai.com/docs/api-reference/transcripts/list).

Refusals: a missing or wrong key → 401 ``{"error": "Authentication error, API token missing/invalid"}``;
a ``limit`` outside 1–200 → 400 ``{"error": ...}`` (AssemblyAI's error shape).

Later issues extend it with transcript submission and polling.
"""
from aiohttp import web

from .http import LoopbackFake, json_error, serve_main


class AssemblyAIFake(LoopbackFake):
    name = "assemblyai"

    def __init__(self, *, api_key="parley-dev-assemblyai-key"):
        super().__init__()
        self.api_key = api_key
        self.transcripts = []

    def routes(self):
        return [web.get("/v2/transcript", self.list_transcripts)]

    def _authenticate(self, request):
        if request.headers.get("Authorization", "").strip() != self.api_key:
            raise json_error(401, {"error": "Authentication error, API token missing/invalid"})

    async def list_transcripts(self, request):
        self._authenticate(request)
        limit = request.query.get("limit", "10")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            raise json_error(400, {"error": "limit must be an integer from 1 to 200"})
        page = self.transcripts[:int(limit)]
        return web.json_response({
            "page_details": {"limit": int(limit), "result_count": len(page), "current_url": str(request.url),
                             "prev_url": None, "next_url": None},
            "transcripts": page,
        })


def describe(fake):
    """AssemblyAI's API on loopback."""
    return f"AssemblyAI fake: ASSEMBLYAI_API_URL={fake.url}"


def main(argv=None):
    serve_main(AssemblyAIFake, argv, prog="python -m tests.fakes.assemblyai", describe=describe, options=[
        ("--api-key", "parley-dev-assemblyai-key", "the API key sent as the bare 'Authorization' header"),
    ])


if __name__ == "__main__":
    main()
