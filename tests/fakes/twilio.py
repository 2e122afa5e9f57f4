"""Twilio's REST API (2010-04-01), the account resource, on loopback (aiohttp).

* ``GET /2010-04-01/Accounts/{AccountSid}.json`` with HTTP Basic ``AccountSid:AuthToken`` → 200,
  the Account resource (``sid``, ``friendly_name``, ``status``, ``type``, ``auth_token``, …):
  https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource

It refuses what Twilio refuses, with Twilio's error shape ``{"code", "message", "more_info",
"status"}`` (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions):
missing or wrong credentials → 401 error 20003 ``Authenticate``; an account the credentials do not
own → 404 error 20404 (https://www.twilio.com/docs/api/errors/20404).

Calls, the way Twilio puts one through to an application (:meth:`TwilioFake.place_call`, or
``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` with ``Url``, ``From``, ``To``, which
answers 201 with the Call resource and then places the call):

1. the voice webhook gets a form POST of the call's parameters (``AccountSid``, ``CallSid``,
   ``From``, ``To``, ``CallStatus``, ``Direction``, ``ApiVersion``; https://www.twilio.com/docs/voice/twiml#request-parameters)
   signed with ``X-Twilio-Signature`` (https://www.twilio.com/docs/usage/webhooks/webhooks-security);
2. its TwiML is read (https://www.twilio.com/docs/voice/twiml/stream): ``<Say>``/``<Hangup>``
   ends the call; ``<Connect><Stream>`` streams the inbound track only (all ``<Connect>``
   allows), ``<Start><Stream track=…>`` the tracks it names; ``<Parameter>`` elements become
   ``customParameters``;
3. the ``<Stream url>`` socket is opened with ``X-Twilio-Signature`` over that URL as written (no
   parameters); on loopback ``wss://`` is dialed as ``ws://`` (there is no TLS here);
4. it sends ``connected``, ``start``, then 20 ms (160-byte) base64 mu-law 8 kHz ``media`` frames
   of real recordings on each track, both tracks every 20 ms (a silent track sends silence, as
   Twilio does), at real-time pace unless a ``speed`` factor says otherwise; ``dtmf`` digits;
   ``stop``; then closes — or stops early when the server closes the socket (a ``<Connect>``
   call ends then). Message shapes: https://www.twilio.com/docs/voice/media-streams/websocket-messages
   (``sequenceNumber``, ``chunk`` and ``timestamp`` are strings, as in Twilio's captured logs).
"""
import asyncio
import base64
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import av
from aiohttp import web
from twilio.request_validator import RequestValidator

from .http import LoopbackFake, basic_credentials, json_error, serve_main

DEV_SID = "AC" + "0123456789abcdef" * 2
FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz
SILENCE = b"\xff"  # mu-law's zero level
DEFAULT_RECORDING = Path(__file__).resolve().parents[1] / "data" / "audio" / "beckett.flac"


def mulaw_8k(path, *, max_ms=None):
    """The audio of ``path`` as G.711 mu-law, 8 kHz mono bytes (PyAV: FFmpeg's resampler and
    ``pcm_mulaw`` encoder), cut at ``max_ms`` when given."""
    encoder = av.CodecContext.create("pcm_mulaw", "w")
    encoder.sample_rate = 8000
    encoder.layout = "mono"
    encoder.format = "s16"
    resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
    out = bytearray()
    with av.open(str(path)) as container:
        frames = [*container.decode(audio=0), None]
    for frame in frames:
        for converted in resampler.resample(frame):
            for packet in encoder.encode(converted):
                out += bytes(packet)
    for packet in encoder.encode(None):
        out += bytes(packet)
    return bytes(out[: max_ms * 8] if max_ms else out)


@dataclass
class CallResult:
    """What happened to a placed call: the webhook's ``status`` and ``twiml``, the ``stream_url``,
    ``tracks`` streamed, ``frames`` sent per track, whether ``stop`` was sent, and the socket's
    close code as the server gave it (None when Parley left it to Twilio)."""

    call_sid: str
    status: int = 0
    twiml: str = ""
    said: list = field(default_factory=list)
    stream_url: str = ""
    parameters: dict = field(default_factory=dict)
    tracks: list = field(default_factory=list)
    frames: dict = field(default_factory=dict)
    stream_sid: str = ""
    stopped: bool = False
    handshake_status: int = 0
    close_code: int | None = None
    audio_sent: asyncio.Event = field(default_factory=asyncio.Event)  # set once the recordings were sent
    sent_at: dict = field(default_factory=dict)  # track -> loop time each media frame was sent (benchmarks)


class TwilioFake(LoopbackFake):
    name = "twilio"

    def __init__(self, *, account_sid=DEV_SID, auth_token="parley-dev-auth-token", friendly_name="Parley test account",
                 recording=DEFAULT_RECORDING, speed=1.0):
        super().__init__()
        self.accounts = {account_sid: {"token": auth_token, "friendly_name": friendly_name}}
        self.created = format_datetime(datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc))
        self.recording = Path(recording)
        self.speed = float(speed)  # pace of the calls the Calls API places (1.0: real time)
        self.calls = []  # tasks of the calls placed through the Calls API

    def routes(self):
        return [web.get("/2010-04-01/Accounts/{sid}.json", self.fetch_account),
                web.post("/2010-04-01/Accounts/{sid}/Calls.json", self.create_call)]

    def _authenticate(self, request):
        credentials = basic_credentials(request)
        account = self.accounts.get(credentials[0]) if credentials else None
        if account is None or account["token"] != credentials[1]:
            raise json_error(401, {"code": 20003, "message": "Authenticate",
                                   "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})
        return credentials[0]

    async def fetch_account(self, request):
        caller = self._authenticate(request)
        sid = request.match_info["sid"]
        if sid != caller:
            raise json_error(404, {"code": 20404, "message": f"The requested resource {request.path} was not found",
                                   "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})
        account = self.accounts[sid]
        return web.json_response({
            "sid": sid, "owner_account_sid": sid, "friendly_name": account["friendly_name"], "status": "active",
            "type": "Full", "auth_token": account["token"], "date_created": self.created, "date_updated": self.created,
            "uri": f"/2010-04-01/Accounts/{sid}.json",
            "subresource_uris": {"calls": f"/2010-04-01/Accounts/{sid}/Calls.json"},
        })


    async def create_call(self, request):
        """``POST …/Calls.json`` (https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource):
        answers the Call resource (status ``queued``), then places the call to ``Url`` with the
        default recording on the inbound track."""
        caller = self._authenticate(request)
        if request.match_info["sid"] != caller:
            raise json_error(404, {"code": 20404, "message": f"The requested resource {request.path} was not found",
                                   "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})
        form = await request.post()
        missing = [name for name in ("To", "From", "Url") if not form.get(name)]
        if missing:
            raise json_error(400, {"code": 21201 if "To" in missing else 21205,
                                   "message": f"Required parameter {missing[0]} missing.",
                                   "more_info": "https://www.twilio.com/docs/errors/21201", "status": 400})
        call_sid = "CA" + secrets.token_hex(16)
        task = asyncio.create_task(self.place_call(form["Url"], account_sid=caller, from_=form["From"],
                                                   to=form["To"], call_sid=call_sid, inbound=self.recording,
                                                   speed=self.speed))
        self.calls.append(task)
        return web.json_response({"sid": call_sid, "account_sid": caller, "to": form["To"], "from": form["From"],
                                  "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
                                  "uri": f"/2010-04-01/Accounts/{caller}/Calls/{call_sid}.json"}, status=201)

    async def place_call(self, voice_url, *, account_sid=None, from_="+14155550100", to="+14155550199", call_sid=None,
                         inbound=DEFAULT_RECORDING, outbound=None, speed=1.0, dtmf="", bad_payloads=(),
                         signature=None, stream_signature=None, max_ms=None, hold=False, result=None):
        """Put a call through to the application at ``voice_url``; returns a :class:`CallResult`.

        ``inbound``/``outbound``: the recording heard on each track, a path or ``(path, start_ms)``
        (the track is silent before its start and after its end); ``max_ms`` cuts each recording.
        ``speed``: 1.0 is real time, 10.0 ten times faster, 0 as fast as the socket takes it.
        ``dtmf``: digits pressed at the start. ``bad_payloads``: indexes of media messages sent with
        a payload that is not base64 (as a broken proxy might), for the server to skip.
        ``signature``/``stream_signature``: override the computed signatures (to test refusals).
        ``hold``: after the recordings, the caller stays on the line without a word and the stream
        stays open until the application closes it (a ``<Connect>`` call the application ends).
        ``result``: a :class:`CallResult` to fill (to watch ``audio_sent`` during the call).
        """
        account_sid = account_sid or next(iter(self.accounts))
        token = self.accounts[account_sid]["token"]
        validator = RequestValidator(token)
        result = result or CallResult(call_sid=call_sid or "CA" + secrets.token_hex(16))
        params = {"AccountSid": account_sid, "ApiVersion": "2010-04-01", "CallSid": result.call_sid,
                  "CallStatus": "ringing", "Called": to, "Caller": from_, "Direction": "inbound", "From": from_,
                  "To": to}
        headers = {"X-Twilio-Signature": signature if signature is not None
                   else validator.compute_signature(voice_url, params),
                   "User-Agent": "TwilioProxy/1.1"}
        async with aiohttp.ClientSession() as http:
            async with http.post(voice_url, data=params, headers=headers) as response:
                result.status = response.status
                result.twiml = await response.text()
            if result.status != 200:
                return result
            stream = self._read_twiml(result)
            if stream is None:
                return result
            recordings = {"inbound": inbound, "outbound": outbound}
            audio = {track: self._track_audio(recordings[track], max_ms) for track in result.tracks}
            url = result.stream_url.replace("wss://", "ws://", 1).replace("https://", "http://", 1)
            upgrade = {"X-Twilio-Signature": stream_signature if stream_signature is not None
                       else validator.compute_signature(result.stream_url, {})}
            try:
                ws = await http.ws_connect(url, headers=upgrade, autoping=True)
            except aiohttp.WSServerHandshakeError as exc:
                result.handshake_status = exc.status
                return result
            async with ws:
                await self._stream(ws, result, account_sid, audio, speed, dtmf, set(bad_payloads), hold)
        return result

    def _read_twiml(self, result):
        """Find the ``<Stream>`` of the answer; None when the call is not streamed (said, hung up)."""
        root = ET.fromstring(result.twiml)
        result.said = [say.text or "" for say in root.iter("Say")]
        for verb in root:
            stream = verb.find("Stream") if verb.tag in ("Connect", "Start") else None
            if stream is None:
                if verb.tag == "Hangup":
                    return None
                continue
            result.stream_url = stream.get("url", "")
            result.parameters = {p.get("name"): p.get("value", "") for p in stream.iter("Parameter")}
            track = "inbound_track" if verb.tag == "Connect" else stream.get("track", "inbound_track")
            result.tracks = {"inbound_track": ["inbound"], "outbound_track": ["outbound"],
                             "both_tracks": ["inbound", "outbound"]}[track]
            return stream
        return None

    def _track_audio(self, recording, max_ms):
        if recording is None:
            return b""
        path, start_ms = recording if isinstance(recording, tuple) else (recording, 0)
        return SILENCE * (int(start_ms) * 8) + mulaw_8k(path, max_ms=max_ms)

    async def _stream(self, ws, result, account_sid, audio, speed, dtmf, bad_payloads, hold):
        result.stream_sid = "MZ" + secrets.token_hex(16)
        sequence = 0

        def envelope(event, **body):
            nonlocal sequence
            sequence += 1
            return {"event": event, "sequenceNumber": str(sequence), "streamSid": result.stream_sid, **body}

        async def send(message):
            if ws.closed:
                return False
            try:
                await ws.send_json(message)
            except (ConnectionResetError, aiohttp.ClientConnectionError):
                return False
            return True

        async def read():
            # What the application sends back (media, mark, clear on a <Connect> stream) is
            # accepted; reading is also how its close frame is seen.
            async for _ in ws:
                pass

        reader = asyncio.create_task(read())
        try:
            await self._send_call(ws, result, account_sid, audio, speed, dtmf, bad_payloads, envelope, send, hold,
                                  reader)
        finally:
            reader.cancel()

    async def _send_call(self, ws, result, account_sid, audio, speed, dtmf, bad_payloads, envelope, send, hold,
                         reader):
        await ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await send(envelope("start", start={
            "accountSid": account_sid, "streamSid": result.stream_sid, "callSid": result.call_sid,
            "tracks": result.tracks, "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": result.parameters}))
        for digit in dtmf:
            await send(envelope("dtmf", dtmf={"track": "inbound_track", "digit": digit}))
        frames = max(len(data) for data in audio.values()) // FRAME_BYTES if audio else 0
        result.frames = {track: 0 for track in audio}
        loop = asyncio.get_running_loop()
        began = loop.time()
        media_index = 0
        for index in range(frames):
            if speed:
                delay = began + index * 0.020 / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            for track, data in audio.items():
                frame = data[index * FRAME_BYTES:(index + 1) * FRAME_BYTES].ljust(FRAME_BYTES, SILENCE)
                payload = "%%% not base64 %%%" if media_index in bad_payloads else base64.b64encode(frame).decode()
                media_index += 1
                if not await send(envelope("media", media={"track": track, "chunk": str(index + 1),
                                                           "timestamp": str(index * 20), "payload": payload})):
                    result.close_code = ws.close_code
                    return
                result.frames[track] += 1
                result.sent_at.setdefault(track, []).append(loop.time())
            if ws.closed:
                break
        result.audio_sent.set()
        if hold and not ws.closed:
            await asyncio.wait({reader}, timeout=120)
        if not ws.closed:
            result.stopped = await send(envelope("stop", stop={"accountSid": account_sid, "callSid": result.call_sid}))
            await ws.close()
        else:
            result.close_code = ws.close_code


def describe(fake):
    """Twilio's account API on loopback."""
    return (f"Twilio fake: TWILIO_API_URL={fake.url} accounts {', '.join(fake.accounts)}; "
            f"place a call with POST {fake.url}/2010-04-01/Accounts/<sid>/Calls.json (Url, From, To)")


def main(argv=None):
    serve_main(TwilioFake, argv, prog="python -m tests.fakes.twilio", describe=describe, options=[
        ("--account-sid", DEV_SID, "the account SID (AC + 32 hex digits)"),
        ("--auth-token", "parley-dev-auth-token", "its auth token"),
        ("--recording", str(DEFAULT_RECORDING), "what callers placed through the Calls API say"),
        ("--speed", "1.0", "pace of those calls: 1.0 is real time"),
    ])


if __name__ == "__main__":
    main()
