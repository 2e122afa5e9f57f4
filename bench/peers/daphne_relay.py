"""The Node relay of ``relay.js``, line for line, as a bare ASGI app under Daphne: what the stack
Parley serves on costs per media frame before Parley does any work of its own.

``POST /voice`` answers ``<Connect><Stream url="wss://{host}/media">`` (with the caller as a
``<Parameter>``); on the media socket's ``start`` it opens a Symbl Streaming API connection
(websockets) and sends a ``start_request`` (MULAW, 8000 Hz); every ``media`` payload is
base64-decoded and forwarded as one binary frame; ``stop`` sends ``stop_request``; what Symbl sends
back is read and dropped. No Channels, no Django, no database, no signature check (as the Node
relay has none).

    python -m bench.peers.daphne_relay PORT   (SYMBL_API_URL, SYMBL_WS_URL, SYMBL_APP_ID, SYMBL_APP_SECRET)
"""
import asyncio
import base64
import json
import os
import re
import sys
import uuid
from urllib.parse import parse_qs

import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor first)
import httpx
from websockets.asyncio.client import connect

_token = None


async def access_token():
    global _token
    if _token is None:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{os.environ['SYMBL_API_URL']}/oauth2/token:generate", json={
                "type": "application", "appId": os.environ["SYMBL_APP_ID"], "appSecret": os.environ["SYMBL_APP_SECRET"]})
            _token = response.json()["accessToken"]
    return _token


async def voice(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    caller = re.sub(r"[^+0-9]", "", (parse_qs(body.decode()).get("From") or [""])[0])
    host = dict(scope["headers"]).get(b"host", b"").decode()
    twiml = (f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://{host}/media">'
             f'<Parameter name="from" value="{caller}"/></Stream></Connect></Response>').encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/xml")]})
    await send({"type": "http.response.body", "body": twiml})


async def media(scope, receive, send):
    symbl, queued, reader = None, [], None

    async def drain(ws):
        async for _ in ws:
            pass

    async def open_symbl(caller):
        nonlocal symbl, reader
        url = f"{os.environ['SYMBL_WS_URL']}/v1/streaming/{uuid.uuid4()}?access_token={await access_token()}"
        ws = await connect(url, compression=None, max_size=None)
        await ws.send(json.dumps({
            "type": "start_request", "insightTypes": ["question", "action_item"],
            "config": {"confidenceThreshold": 0.5, "languageCode": "en-US", "meetingTitle": "Twilio call",
                       "speechRecognition": {"encoding": "MULAW", "sampleRateHertz": 8000}},
            "speaker": {"userId": caller, "name": caller}}))
        for chunk in queued:
            await ws.send(chunk)
        queued.clear()
        reader = asyncio.create_task(drain(ws))
        symbl = ws

    opening = None
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif kind == "websocket.receive":
            msg = json.loads(message["text"])
            event = msg.get("event")
            if event == "start":
                caller = (msg["start"].get("customParameters") or {}).get("from") or "caller"
                opening = asyncio.create_task(open_symbl(caller))
            elif event == "media":
                audio = base64.b64decode(msg["media"]["payload"])
                if symbl is not None:
                    await symbl.send(audio)
                else:
                    queued.append(audio)
            elif event == "stop" and opening is not None:
                await opening
                await symbl.send(json.dumps({"type": "stop_request"}))
                asyncio.get_running_loop().call_later(1, lambda ws=symbl: asyncio.ensure_future(ws.close()))
        elif kind == "websocket.disconnect":
            if reader is not None:
                asyncio.get_running_loop().call_later(2, reader.cancel)
            return


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/voice":
        await voice(scope, receive, send)
    elif scope["type"] == "websocket" and scope["path"] == "/media":
        await media(scope, receive, send)
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def main():
    from daphne.server import Server

    Server(application=application, endpoints=[f"tcp:port={int(sys.argv[1])}:interface=127.0.0.1"],
           verbosity=0).run()


if __name__ == "__main__":
    main()
