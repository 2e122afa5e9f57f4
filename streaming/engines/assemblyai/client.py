"""AssemblyAI's speech-to-text APIs: pre-recorded transcription (upload, submit, poll) and the streaming URL.

Protocols: https://www.assemblyai.com/docs/api-reference/transcripts (pre-recorded) and
https://www.assemblyai.com/docs/api-reference/streaming-api/universal-streaming (Universal-Streaming
v3). Every request carries the bare API key as ``Authorization: <api key>``.

* ``POST {ASSEMBLYAI_API_URL}/v2/upload`` with the audio as the body → ``{"upload_url"}``;
* ``POST /v2/transcript`` ``{"audio_url", "speaker_labels": true, "language_code", "punctuate",
  "format_text"}`` → the transcript object ``{"id", "status": "queued", ...}``;
* ``GET /v2/transcript/{id}`` → ``status`` ``queued`` | ``processing`` | ``completed`` | ``error``; when
  completed ``{"text", "words": [{"text", "start": ms, "end": ms, "confidence", "speaker"}],
  "utterances": [{"speaker": "A", "text", "start": ms, "end": ms, "confidence", "words"}],
  "audio_duration": s}``; when failed ``{"error": reason}``.
* Refusals: 401 ``{"error": "Authentication error, API token missing/invalid"}``, 400 ``{"error": …}``
  for a bad request (an unsupported ``language_code``).

httpx and websockets rather than the ``assemblyai`` SDK: the SDK polls and streams in its own
threads and reads its hosts from module globals; Parley needs four HTTP calls and one WebSocket
on base URLs that are settings (``ASSEMBLYAI_API_URL``, ``ASSEMBLYAI_WS_URL``), so the emulator in
``tests/fakes/assemblyai.py`` stands in on loopback, inside the runner's event loop.
"""
import asyncio

import httpx
from django.conf import settings

from streaming.tls import tls_context

from ..transcript import UpstreamError, file_chunks, reason_of

# Universal-Streaming's models (https://www.assemblyai.com/docs/streaming/universal-streaming):
# English, or the multilingual model's six languages.
STREAMING_MODELS = {"en": "universal-streaming-english", **{
    language: "universal-streaming-multilingual" for language in ("es", "fr", "de", "it", "pt")}}
# The English variants pre-recorded transcription names (https://www.assemblyai.com/docs/pre-recorded-audio/supported-languages).
ENGLISH_VARIANTS = {"en-us": "en_us", "en-gb": "en_uk", "en-uk": "en_uk", "en-au": "en_au"}


def language_code(language):
    """AssemblyAI's ``language_code`` for a BCP 47 tag: ``en-US`` → ``en_us``, ``en-GB`` → ``en_uk``,
    ``fr-FR`` → ``fr``."""
    tag = language.strip().lower().replace("_", "-")
    return ENGLISH_VARIANTS.get(tag, tag.split("-")[0])


class AssemblyAIClient:
    """One API key on AssemblyAI's base URLs."""

    poll_s = 1.0  # between two reads of a transcript being processed
    timeout_s = 120.0  # one HTTP request (an upload of a long recording included)

    def __init__(self, api_key, api_url=None, ws_url=None):
        self.api_key = api_key
        self.api_url = (api_url or settings.ASSEMBLYAI_API_URL).rstrip("/")
        self.ws_url = (ws_url or settings.ASSEMBLYAI_WS_URL).rstrip("/")

    @property
    def headers(self):
        return {"Authorization": self.api_key}

    def streaming_url(self, params):
        """The Universal-Streaming ``/v3/ws`` URL with ``params``."""
        return str(httpx.URL(f"{self.ws_url}/v3/ws", params=params))

    async def _request(self, http, method, path, *, headers=None, **kwargs):
        try:
            response = await http.request(method, f"{self.api_url}{path}", headers={**self.headers, **(headers or {})},
                                          **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"AssemblyAI could not be reached: {exc.__class__.__name__}: {exc}") from None
        if response.status_code != 200:
            raise UpstreamError(reason_of(response.status_code, response.content), response.status_code)
        return response.json()

    async def transcribe_file(self, path, *, language, speaker_labels=True):
        """Upload the recording at ``path``, transcribe it with speaker labels, and return the completed
        transcript object (see the module doc). Raises :class:`~streaming.engines.UpstreamError` with
        AssemblyAI's reason for a refusal or a failed transcript."""
        async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False, verify=tls_context()) as http:
            upload = await self._request(http, "POST", "/v2/upload", content=file_chunks(path),
                                         headers={"Content-Type": "application/octet-stream"})
            transcript = await self._request(http, "POST", "/v2/transcript", json={
                "audio_url": upload["upload_url"], "speaker_labels": speaker_labels,
                "language_code": language_code(language), "punctuate": True, "format_text": True})
            while transcript.get("status") in ("queued", "processing"):
                await asyncio.sleep(self.poll_s)
                transcript = await self._request(http, "GET", f"/v2/transcript/{transcript['id']}")
        if transcript.get("status") != "completed":
            raise UpstreamError(str(transcript.get("error") or f"the transcript is {transcript.get('status')!r}"))
        return transcript
