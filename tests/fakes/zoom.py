"""A Zoom emulator on loopback (aiohttp): Server-to-Server OAuth, a meeting's custom live stream,
cloud recordings with a TIMELINE file, and signed webhooks.

* ``POST /oauth/token?grant_type=account_credentials&account_id={id}`` (the parameters may also be
  an ``application/x-www-form-urlencoded`` body) with ``Authorization: Basic
  base64(client_id:client_secret)`` → 200 ``{"access_token", "token_type": "bearer",
  "expires_in": 3599, "scope", "api_url"}`` (https://developers.zoom.us/docs/internal-apps/s2s-oauth/).
  Refusals in Zoom's OAuth error shape ``{"reason", "error"}``: wrong client id or secret → 401
  ``invalid_client``; no Basic credentials → 400 ``invalid_request``; another grant type → 400
  ``unsupported_grant_type``; a missing or unknown account id → 400 ``invalid_request`` (the exact
  reason strings of these last two are not published: inferred).
* REST under ``/v2`` (what ``ZOOM_API_URL`` is set to: :attr:`ZoomFake.api_url`), ``Authorization:
  Bearer <token>`` (else 401 ``{"code": 124, "message": "Invalid access token."}``); errors as
  ``{"code", "message"}`` (https://developers.zoom.us/docs/api/errors/):

  - ``PATCH /v2/meetings/{id}/livestream`` ``{stream_url, stream_key, page_url}`` → 204; 300 for a
    missing or too long field; 404 code 3001 ``Meeting does not exist: {id}.``; 400 code 3000 when the
    account has live streaming turned off (``live_streaming=False``; the wording is inferred);
  - ``GET /v2/meetings/{id}/livestream`` → ``{stream_url, stream_key, page_url}``;
  - ``PATCH /v2/meetings/{id}/livestream/status`` ``{"action": "start"|"stop", "settings"}`` → 204;
    start without a registered stream → 400 code 3000. On start, when the emulator was given
    ``media`` (an audio file) and the registered URL is ``rtmp://``, it pushes that file there in
    real time with ffmpeg (FLV, AAC), as a Zoom client does for a custom live stream; stop ends it;
  - ``GET /v2/meetings/{id}/recordings[?include_fields=download_access_token]`` → the listing with an
    MP4 and a TIMELINE file (only once :meth:`ZoomFake.add_recording` gave the meeting a recording, or
    its live stream started with ``timeline`` given, else 404 code 3301 ``There is no recording for
    this meeting.``);
  - ``GET /recording/download/{file_id}`` with ``?access_token=`` (the download access token) or a
    Bearer token → the file.

  :meth:`ZoomFake.fail_next` answers the next REST call with any status and body (429 rate limits).
* Webhooks: :meth:`ZoomFake.signed` builds a request Zoom would send (``x-zm-request-timestamp``,
  ``x-zm-signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))``,
  https://developers.zoom.us/docs/api/webhooks/); :meth:`ZoomFake.deliver` POSTs it to a URL, and
  the running emulator sends one to ``--webhook-url`` on ``POST /emulator/meetings/{id}/{event}``.
"""
import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import shutil
import time
from datetime import datetime, timezone

import httpx
from aiohttp import web

from .http import LoopbackFake, basic_credentials, json_error, serve_main

log = logging.getLogger(__name__)

TOKEN_SECONDS = 3599


class ZoomFake(LoopbackFake):
    name = "zoom"

    def __init__(self, *, account_id="parley-dev-account", client_id="parley-dev-client",
                 client_secret="parley-dev-client-secret", scope="meeting:read:admin meeting:write:admin",
                 webhook_secret_token="parley-dev-webhook-secret", live_streaming=True, media=None, meetings=(),
                 timeline=None, webhook_url=None):
        super().__init__()
        self.account_id, self.client_id, self.client_secret, self.scope = account_id, client_id, client_secret, scope
        self.webhook_secret_token = webhook_secret_token
        self.webhook_url = webhook_url  # the app's event notification endpoint URL (Parley's)
        self.live_streaming = live_streaming
        self.media = media
        self.media_realtime = True  # tests push faster than real time
        # A TIMELINE (path or parsed JSON) recorded for every meeting whose live stream starts: its
        # cloud recording begins with the stream, as when the host records while streaming.
        self.timeline = json.loads(open(timeline).read()) if isinstance(timeline, str) and timeline else timeline
        self.tokens = {}  # access token -> account id
        self.meetings = {}  # meeting id (str) -> state dict
        self.downloads = {}  # file id -> (content type, bytes)
        self.download_tokens = set()
        self.failures = []  # (status, body, headers, path suffix) to answer the next REST calls with
        self.pushers = {}  # meeting id -> ffmpeg process pushing media
        if isinstance(meetings, str):
            meetings = [m for m in meetings.split(",") if m.strip()]
        for meeting_id in meetings:
            self.add_meeting(meeting_id.strip() if isinstance(meeting_id, str) else meeting_id)

    # -- state ---------------------------------------------------------------------------------

    def add_meeting(self, meeting_id, topic="Weekly sync"):
        """A scheduled meeting Zoom knows; returns its state dict."""
        meeting_id = str(meeting_id)
        self.meetings[meeting_id] = {"id": int(meeting_id), "uuid": secrets.token_urlsafe(16)[:22] + "==",
                                     "topic": topic, "livestream": None, "streaming": False, "recording": None,
                                     "status_calls": []}
        return self.meetings[meeting_id]

    def add_recording(self, meeting_id, timeline, *, start_time="2026-11-21T10:00:00Z"):
        """Give the meeting a finished cloud recording whose TIMELINE file is ``timeline`` (parsed JSON)."""
        meeting = self.meetings[str(meeting_id)]
        timeline_id, video_id = secrets.token_hex(8), secrets.token_hex(8)
        self.downloads[timeline_id] = ("application/json", json.dumps(timeline).encode())
        self.downloads[video_id] = ("video/mp4", b"\x00\x00\x00\x18ftypmp42")
        meeting["recording"] = {"start_time": start_time, "files": [
            (video_id, "MP4", "shared_screen_with_speaker_view"), (timeline_id, "TIMELINE", None)]}

    def fail_next(self, status, body, headers=None, *, path_suffix=""):
        """Answer the next REST call (not OAuth) whose path ends with ``path_suffix`` with ``status``
        and the JSON ``body``."""
        self.failures.append((status, body, headers, path_suffix))

    # -- routes --------------------------------------------------------------------------------

    def routes(self):
        return [
            web.post("/oauth/token", self.oauth_token),
            web.patch("/v2/meetings/{meeting_id}/livestream", self.patch_livestream),
            web.get("/v2/meetings/{meeting_id}/livestream", self.get_livestream),
            web.patch("/v2/meetings/{meeting_id}/livestream/status", self.livestream_status),
            web.get("/v2/meetings/{meeting_id}/recordings", self.recordings),
            web.get("/recording/download/{file_id}", self.download),
            # The emulator's own control, not Zoom's API: make Zoom notify the app of an event.
            web.post("/emulator/meetings/{meeting_id}/{event}", self.notify),
        ]

    @property
    def oauth_url(self):
        """What ``ZOOM_OAUTH_URL`` is set to."""
        return self.url

    @property
    def api_url(self):
        """What ``ZOOM_API_URL`` is set to."""
        return f"{self.url}/v2"

    async def stop(self):
        for meeting_id in list(self.pushers):
            self._stop_push(meeting_id)
        await super().stop()

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

    def _authorise(self, request):
        for failure in self.failures:
            status, body, headers, suffix = failure
            if request.path.endswith(suffix):
                self.failures.remove(failure)
                raise json_error(status, body, headers)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            raise json_error(401, {"code": 124, "message": "Invalid access token."})

    def _meeting(self, request):
        meeting_id = request.match_info["meeting_id"]
        if meeting_id not in self.meetings:
            raise json_error(404, {"code": 3001, "message": f"Meeting does not exist: {meeting_id}."})
        return self.meetings[meeting_id]

    async def _body(self, request):
        try:
            body = await request.json()
        except ValueError:
            raise json_error(400, {"code": 300, "message": "Request Body should be a valid JSON object."}) from None
        if not isinstance(body, dict):
            raise json_error(400, {"code": 300, "message": "Request Body should be a valid JSON object."})
        return body

    async def patch_livestream(self, request):
        self._authorise(request)
        meeting = self._meeting(request)
        body = await self._body(request)
        limits = {"stream_url": 1024, "stream_key": 512, "page_url": 1024}
        bad = [f for f, n in limits.items() if not isinstance(body.get(f), str) or not body[f] or len(body[f]) > n]
        if bad:
            raise json_error(400, {"code": 300, "message": "Validation Failed.",
                                   "errors": [{"field": f, "message": "Invalid field."} for f in bad]})
        if not self.live_streaming:
            raise json_error(400, {"code": 3000, "message": "Live streaming is not enabled for this account."})
        meeting["livestream"] = {f: body[f] for f in limits}
        return web.Response(status=204)

    async def get_livestream(self, request):
        self._authorise(request)
        meeting = self._meeting(request)
        return web.json_response(meeting["livestream"] or {"stream_url": "", "stream_key": "", "page_url": ""})

    async def livestream_status(self, request):
        self._authorise(request)
        meeting = self._meeting(request)
        body = await self._body(request)
        action = body.get("action")
        if action not in ("start", "stop"):
            raise json_error(400, {"code": 300, "message": "Validation Failed.",
                                   "errors": [{"field": "action", "message": "Invalid field."}]})
        if not self.live_streaming:
            raise json_error(400, {"code": 3000, "message": "Live streaming is not enabled for this account."})
        meeting["status_calls"].append(body)
        if action == "start":
            if not meeting["livestream"]:
                raise json_error(400, {"code": 3000, "message": "Custom live streaming is not set up for this meeting."})
            meeting["streaming"] = True
            if self.timeline is not None:
                now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                self.add_recording(meeting["id"], self.timeline, start_time=now)
            self._start_push(str(meeting["id"]), meeting["livestream"])
        else:
            meeting["streaming"] = False
            self._stop_push(str(meeting["id"]))
        return web.Response(status=204)

    def _start_push(self, meeting_id, livestream):
        url = livestream["stream_url"].rstrip("/") + "/" + livestream["stream_key"]
        if not self.media or not url.startswith("rtmp://"):
            return
        if not shutil.which("ffmpeg"):
            # A test waiting for the pushed audio would only time out: say why at once.
            raise web.HTTPInternalServerError(text="The Zoom emulator pushes media with ffmpeg, which is not installed.")
        self._stop_push(meeting_id)
        self.pushers[meeting_id] = asyncio.get_running_loop().create_task(self._push(url))

    async def _push(self, url):
        # Zoom pushes the meeting at its own pace; ``-re`` reads the file at real time like it.
        pace = ["-re"] if self.media_realtime else []
        process = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-loglevel", "error", *pace, "-i", str(self.media), "-vn", "-c:a", "aac",
            "-ar", "44100", "-f", "flv", url, stdin=asyncio.subprocess.DEVNULL)
        try:
            await process.wait()
        finally:
            if process.returncode is None:
                process.terminate()
                await process.wait()

    def _stop_push(self, meeting_id):
        task = self.pushers.pop(meeting_id, None)
        if task:
            task.cancel()

    async def recordings(self, request):
        self._authorise(request)
        meeting = self._meeting(request)
        recording = meeting["recording"]
        if recording is None:
            raise json_error(404, {"code": 3301, "message": "There is no recording for this meeting."})
        files = [{"id": file_id, "meeting_id": meeting["uuid"], "recording_start": recording["start_time"],
                  "recording_end": recording["start_time"], "file_type": kind,
                  "file_size": len(self.downloads[file_id][1]), "download_url": f"{self.url}/recording/download/{file_id}",
                  "status": "completed", **({"recording_type": rtype} if rtype else {})}
                 for file_id, kind, rtype in recording["files"]]
        body = {"uuid": meeting["uuid"], "id": meeting["id"], "account_id": self.account_id, "host_id": "host",
                "topic": meeting["topic"], "type": 2, "start_time": recording["start_time"], "duration": 9,
                "recording_count": len(files), "recording_files": files}
        if "download_access_token" in request.query.get("include_fields", ""):
            token = "eyJdl." + secrets.token_urlsafe(24)
            self.download_tokens.add(token)
            body["download_access_token"] = token
        return web.json_response(body)

    async def download(self, request):
        token = request.query.get("access_token") or request.headers.get("Authorization", "").partition(" ")[2]
        if token not in self.download_tokens and token not in self.tokens:
            raise json_error(401, {"code": 124, "message": "Invalid access token."})
        found = self.downloads.get(request.match_info["file_id"])
        if found is None:
            raise json_error(404, {"code": 3301, "message": "This recording does not exist."})
        return web.Response(body=found[1], content_type=found[0])

    # -- webhooks ------------------------------------------------------------------------------

    def signed(self, event, payload, *, timestamp=None, secret=None):
        """``(headers, body bytes)`` of a webhook Zoom would send for ``event`` with ``payload``."""
        timestamp = int(time.time()) if timestamp is None else int(timestamp)
        body = json.dumps({"event": event, "payload": payload, "event_ts": timestamp * 1000}).encode()
        message = b"v0:" + str(timestamp).encode() + b":" + body
        signature = hmac.new((secret or self.webhook_secret_token).encode(), message, hashlib.sha256).hexdigest()
        return {"content-type": "application/json", "x-zm-request-timestamp": str(timestamp),
                "x-zm-signature": f"v0={signature}", "user-agent": "Zoom Marketplace/1.0a"}, body

    def meeting_event(self, event, meeting_id, **extra):
        """The payload of ``meeting.started``/``meeting.ended`` for a meeting of this account."""
        meeting = self.meetings.get(str(meeting_id)) or {"uuid": "", "topic": ""}
        obj = {"duration": 0, "start_time": "2026-11-21T10:00:00Z", "timezone": "UTC", "topic": meeting["topic"],
               "id": str(meeting_id), "type": 2, "uuid": meeting["uuid"], "host_id": "host", **extra}
        if event == "meeting.ended":
            obj.setdefault("end_time", "2026-11-21T10:09:00Z")
        return {"account_id": self.account_id, "object": obj}

    async def notify(self, request):
        """``POST /emulator/meetings/{id}/{event}``: send the signed ``event`` (``meeting.started``,
        ``meeting.ended``, ``recording.completed``) for that meeting to ``webhook_url``; answers
        ``{"status", "body"}`` of the app's reply."""
        event, meeting_id = request.match_info["event"], request.match_info["meeting_id"]
        if not self.webhook_url:
            raise json_error(400, {"message": "Start the emulator with --webhook-url to send notifications."})
        headers, body = self.signed(event, self.meeting_event(event, meeting_id))
        async with httpx.AsyncClient(timeout=30) as http:
            reply = await http.post(self.webhook_url, headers=headers, content=body)
        return web.json_response({"status": reply.status_code, "body": reply.text})

    def deliver(self, url, event, payload, **kwargs):
        """POST a signed webhook to ``url`` (sync, like Zoom's servers); returns the httpx response."""
        headers, body = self.signed(event, payload, **kwargs)
        return httpx.post(url, headers=headers, content=body, timeout=10)


def describe(fake):
    """Zoom Server-to-Server OAuth, live streams, recordings and webhooks on loopback."""
    return (f"Zoom fake: ZOOM_OAUTH_URL={fake.oauth_url} ZOOM_API_URL={fake.api_url} account {fake.account_id!r} "
            f"client {fake.client_id!r} meetings {sorted(fake.meetings)}")


def main(argv=None):
    serve_main(ZoomFake, argv, prog="python -m tests.fakes.zoom", describe=describe, options=[
        ("--account-id", "parley-dev-account", "the S2S app's account id"),
        ("--client-id", "parley-dev-client", "the app's client id"),
        ("--client-secret", "parley-dev-client-secret", "the app's client secret"),
        ("--webhook-secret-token", "parley-dev-webhook-secret", "the app's webhook secret token"),
        ("--meetings", "85746065432", "comma-separated ids of the meetings Zoom knows"),
        ("--media", None, "an audio file pushed to a meeting's RTMP live stream when it starts"),
        ("--timeline", None, "a TIMELINE file recorded for a meeting when its live stream starts"),
        ("--webhook-url", None, "where POST /emulator/meetings/{id}/{event} sends Zoom's signed notification"),
    ])


if __name__ == "__main__":
    main()
