"""Deepgram's speech-to-text API: pre-recorded transcription over HTTPS, the live URL and its errors.

Protocol: https://developers.deepgram.com/reference/speech-to-text-api/listen (pre-recorded) and
https://developers.deepgram.com/reference/speech-to-text-api/listen-streaming (live). Every request
carries ``Authorization: Token <api key>``; the options are query parameters of ``/v1/listen``.

* ``POST {DEEPGRAM_API_URL}/v1/listen?model=…&language=…&diarize=true&utterances=true&…`` with the
  audio as the body (``Content-Type: audio/wav``) → 200 ``{"metadata": {"request_id", "duration": s,
  "channels", "models"}, "results": {"channels": [{"alternatives": [{"transcript", "confidence",
  "words": [{"word", "start": s, "end": s, "confidence", "speaker", "punctuated_word"}]}]}],
  "utterances": [{"id", "start": s, "end": s, "transcript", "speaker", "channel", "words"}]}}``.
* Refusals: 401 ``{"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}``; 400
  ``{"err_code": "Bad Request", "err_msg": …}`` for an unknown model/language combination or audio
  Deepgram cannot decode; 402 for an exhausted balance; 429 and 5xx are Deepgram's own trouble.

httpx and websockets rather than the official ``deepgram-sdk``: the SDK is a generated client
whose live socket runs its own threads and callbacks, and whose base URL is buried in its
options; Parley needs one POST and one WebSocket, on a base URL that is a setting (so the emulator
in ``tests/fakes/deepgram.py`` stands in on loopback), inside the runner's event loop.
"""
import httpx
from django.conf import settings

from streaming.tls import tls_context

from ..transcript import UpstreamError, file_chunks, reason_of


def ws_url_of(api_url):
    """The WebSocket base for an HTTP base URL: ``https://x`` → ``wss://x``, ``http://x`` → ``ws://x``."""
    if api_url.startswith("https://"):
        return "wss://" + api_url[len("https://"):]
    if api_url.startswith("http://"):
        return "ws://" + api_url[len("http://"):]
    return api_url


def _flag(value):
    return "true" if value else "false"


def listen_params(*, model, language, diarize=True, punctuate=True, smart_format=True, **extra):
    """Query parameters of ``/v1/listen`` (strings, as Deepgram reads them)."""
    params = {"model": model, "language": language, "punctuate": _flag(punctuate),
              "smart_format": _flag(smart_format), "diarize": _flag(diarize)}
    for key, value in extra.items():
        if value is not None:
            params[key] = _flag(value) if isinstance(value, bool) else str(value)
    return params


class DeepgramClient:
    """One API key on Deepgram's base URLs (``DEEPGRAM_API_URL``; live: ``DEEPGRAM_WS_URL``, else the
    API URL with a WebSocket scheme)."""

    timeout_s = 600.0  # a pre-recorded request answers when the whole file is transcribed

    def __init__(self, api_key, api_url=None, ws_url=None):
        self.api_key = api_key
        self.api_url = (api_url or settings.DEEPGRAM_API_URL).rstrip("/")
        self.ws_url = (ws_url or getattr(settings, "DEEPGRAM_WS_URL", "") or ws_url_of(self.api_url)).rstrip("/")

    @property
    def headers(self):
        return {"Authorization": f"Token {self.api_key}"}

    def listen_url(self, params):
        """The live ``/v1/listen`` WebSocket URL with ``params``."""
        return str(httpx.URL(f"{self.ws_url}/v1/listen", params=params))

    async def transcribe_file(self, path, params):
        """Transcribe the WAV file at ``path`` whole; returns Deepgram's response (see the module doc).

        Raises :class:`~streaming.engines.UpstreamError` with Deepgram's reason for a refusal or a failed connection.
        """
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False, verify=tls_context()) as http:
                response = await http.post(f"{self.api_url}/v1/listen", params=params, content=file_chunks(path),
                                           headers={**self.headers, "Content-Type": "audio/wav"})
        except httpx.HTTPError as exc:
            raise UpstreamError(f"Deepgram could not be reached: {exc.__class__.__name__}: {exc}") from None
        if response.status_code != 200:
            raise UpstreamError(reason_of(response.status_code, response.content), response.status_code)
        return response.json()
