"""Contract tests of the Symbl client against the emulator (tests/fakes/symbl.py), on real transcripts and audio."""
import asyncio
import json

import pytest
import websockets
from websockets.asyncio.client import connect

from streaming.audio import iter_pcm
from streaming.engines.symbl import mapping
from streaming.engines.symbl.client import BadRequest, NotFound, RateLimited, SymblClient, SymblError, Unauthorized
from streaming.engines.symbl.streaming import StreamingSession, start_request
from tests.fakes.symbl import load_script
from tests.streaming.symbl_fixtures import APP_ID, client, symbl  # noqa: F401 (fixtures)

ENDGAME = load_script()


def endgame_pcm(data_dir):
    return b"".join(iter_pcm(data_dir / "audio" / "endgame_nagg_nell.flac", chunk_ms=100))


def token_requests(emulator):
    return [r for r in emulator.requests if r[1] == "/oauth2/token:generate"]


async def stream(client, pcm, *, connection_id="parley-test-conn-1", chunk=3200, mid=None, **start):
    """Stream ``pcm`` through a StreamingSession; returns (frames, session). ``mid(i)`` runs before chunk i."""
    frames = []

    async def on_frame(frame):
        frames.append(frame)

    session = StreamingSession(client, connection_id, start_request(
        title="Endgame", speaker_id="nagg@example.com", speaker_name="Nagg", **start), on_frame)
    await session.open()
    for i, offset in enumerate(range(0, len(pcm), chunk)):
        if mid:
            await mid(i)
        await session.send_audio(pcm[offset:offset + chunk])
    await session.stop(timeout=20)
    return frames, session


def finals(frames):
    return [m for f in frames if f.get("type") == "message_response" for m in f["messages"]]


# -- authentication -------------------------------------------------------------------------


async def test_the_token_is_cached_and_renewed_before_it_expires(symbl, client):
    first = await client.token()
    assert await client.token() == first
    assert len(token_requests(symbl)) == 1
    symbl.token_ttl = 2
    symbl.expire_tokens()
    short = await client.token(force=True)
    assert short != first and len(token_requests(symbl)) == 2
    await asyncio.sleep(1.5)
    assert await client.token() == short and len(token_requests(symbl)) == 2  # still cached
    await asyncio.sleep(0.35)
    # 10 % of its life before expiry the client asks again; Symbl answers the same token, nearly spent.
    assert await client.token() == short and len(token_requests(symbl)) == 3
    await asyncio.sleep(0.3)
    assert await client.token() != short and len(token_requests(symbl)) == 4


async def test_a_wrong_secret_is_unauthorized_with_symbls_message_and_not_retried(symbl):
    async with SymblClient(symbl.api_url, symbl.ws_url, APP_ID, "wrong-secret") as client:
        with pytest.raises(Unauthorized) as raised:
            await client.token()
    assert raised.value.status == 401
    assert "appSecret" in raised.value.message
    assert len(token_requests(symbl)) == 1


async def test_429_on_token_generation_is_retried_with_backoff(symbl, client):
    symbl.token_429 = 2
    assert await client.token()
    assert [status for *_, status in token_requests(symbl)] == [429, 429, 200]


async def test_429_that_never_ends_raises_after_the_last_attempt(symbl, client):
    symbl.token_429 = 100
    with pytest.raises(RateLimited) as raised:
        await client.token()
    assert raised.value.status == 429 and "Too many requests" in raised.value.message
    assert len(token_requests(symbl)) == SymblClient.attempts


async def test_a_401_renews_the_token_and_retries_once(symbl, client, data_dir):
    frames, _ = await stream(client, endgame_pcm(data_dir)[: 32000 * 5])
    conversation_id = frames[0]["message"]["data"]["conversationId"]
    symbl.expire_tokens()  # the cached token is now refused
    messages = await client.messages(conversation_id)
    assert [m["text"] for m in messages] == [line.text for line in ENDGAME if line.start < 5]
    statuses = [(path.rsplit("/", 1)[-1], status) for method, path, status in symbl.requests if method == "GET"]
    assert statuses[-2:] == [("messages", 401), ("messages", 200)]


async def test_unknown_conversation_is_not_found_with_symbls_message(client):
    with pytest.raises(NotFound, match="invalid or does not exist"):
        await client.messages("1234567890")


# -- streaming --------------------------------------------------------------------------------


async def test_a_stream_of_real_audio_yields_every_scripted_final_in_order(symbl, client, data_dir):
    frames, session = await stream(client, endgame_pcm(data_dir))
    kinds = [f["message"]["type"] if f["type"] == "message" else f["type"] for f in frames]
    assert kinds[:3] == ["conversation_created", "started_listening", "recognition_started"]
    assert kinds[-2:] == ["recognition_stopped", "conversation_completed"]
    assert [m["payload"]["content"] for m in finals(frames)] == [line.text for line in ENDGAME]
    assert all(m["from"]["userId"] == "nagg@example.com" for m in finals(frames))
    interims = [f for f in frames if f.get("type") == "message" and f["message"]["type"] == "recognition_result"
                and not f["message"]["isFinal"]]
    assert interims and all(f["message"]["punctuated"]["transcript"] for f in interims)
    questions = [i for f in frames if f["type"] == "insight_response" for i in f["insights"]]
    assert {i["payload"]["content"] for i in questions} == {line.text for line in ENDGAME if line.text.endswith("?")}
    assert any(f["type"] == "topic_response" for f in frames)
    # Audio went out in frames of at most 8,192 bytes, after the start_request.
    sent = symbl.stream_frames
    assert sent[0][0] == "text" and sent[0][1]["type"] == "start_request"
    assert max(size for kind, size in sent if kind == "binary") <= 8192
    # Every event maps into the protocol.
    from streaming import events

    for frame in frames:
        for event in mapping.to_events(frame):
            events.validate(event)
    # The Conversation API answers with what was streamed.
    conversation_id = frames[0]["message"]["data"]["conversationId"]
    assert [m["id"] for m in await client.messages(conversation_id)] == [m["id"] for m in finals(frames)]
    assert {q["id"] for q in await client.questions(conversation_id)} == {i["id"] for i in questions}
    assert [s["text"] for s in await client.summary(conversation_id)]


async def test_oversized_chunks_are_split_to_8192_bytes(symbl, client, data_dir):
    await stream(client, endgame_pcm(data_dir)[:100000], chunk=50000)
    sizes = [size for kind, size in symbl.stream_frames if kind == "binary"]
    assert max(sizes) == 8192 and sum(sizes) == 100000


async def test_a_dropped_socket_reconnects_with_the_same_connection_id_and_loses_no_final(symbl, client, data_dir):
    symbl.drop_after_finals = 5
    frames, session = await stream(client, endgame_pcm(data_dir), connection_id="parley-drop-1")
    assert session.reconnects == 1
    streaming_paths = {path for method, path, status in symbl.requests if path.startswith("/v1/streaming/")}
    assert streaming_paths == {"/v1/streaming/parley-drop-1"}
    ids = [m["id"] for m in finals(frames)]
    texts = {m["id"]: m["payload"]["content"] for m in finals(frames)}
    # The fifth final was redelivered after the reconnect (at-least-once): same id, so the persister stores it once.
    assert len(ids) == len(ENDGAME) + 1 and len(set(ids)) == len(ENDGAME)
    assert [texts[i] for i in dict.fromkeys(ids)] == [line.text for line in ENDGAME]
    created = [f for f in frames if f.get("type") == "message" and f["message"]["type"] == "conversation_created"]
    assert len({f["message"]["data"]["conversationId"] for f in created}) == 1


async def test_a_token_expiring_mid_session_is_renewed_on_reconnect(symbl, client, data_dir):
    symbl.drop_after_finals = 3

    async def expire(i):
        if i == 20:  # 2 s in: the token the session opened with stops being valid
            symbl.expire_tokens()

    frames, session = await stream(client, endgame_pcm(data_dir), connection_id="parley-expiry-1", mid=expire)
    assert session.reconnects == 1
    handshakes = [status for method, path, status in symbl.requests if path.startswith("/v1/streaming/")]
    assert 401 in handshakes and handshakes[-1] == 101
    assert len({m["id"] for m in finals(frames)}) == len(ENDGAME)


async def test_an_error_frame_is_relayed_and_the_session_goes_on(symbl, client, data_dir):
    symbl.error_after_finals = 2
    frames, _ = await stream(client, endgame_pcm(data_dir))
    errors = [f for f in frames if f["type"] == "error"]
    assert len(errors) == 1
    event = mapping.to_events(errors[0])[0]
    assert event == {"type": "error", "message": "Temporary processing delay.",
                     "details": "Recognition fell behind; results will catch up."}
    assert len(finals(frames)) == len(ENDGAME)


async def test_an_unknown_message_type_is_kept_as_a_valid_event(symbl, client, data_dir):
    symbl.unknown_after_finals = 1
    frames, _ = await stream(client, endgame_pcm(data_dir)[: 32000 * 6])
    unknown = [f for f in frames if f.get("type") == "message" and f["message"]["type"] == "speaker_change_detected"]
    assert len(unknown) == 1
    from streaming import events

    (event,) = mapping.to_events(unknown[0])
    assert events.validate(event) == "provider_event" and event["original"] == unknown[0]


# -- what the emulator refuses ----------------------------------------------------------------


async def test_the_streaming_endpoint_refuses_a_missing_or_expired_token(symbl, client):
    with pytest.raises(websockets.InvalidStatus) as raised:
        await connect(f"{symbl.ws_url}/v1/streaming/parley-no-token", proxy=None)
    assert raised.value.response.status_code == 401
    token = await client.token()
    symbl.expire_tokens()
    with pytest.raises(websockets.InvalidStatus):
        await connect(f"{symbl.ws_url}/v1/streaming/parley-old-token?access_token={token}", proxy=None)


async def test_audio_before_start_request_is_refused_and_oversized_chunks_close_the_stream(symbl, client):
    token = await client.token()
    async with connect(f"{symbl.ws_url}/v1/streaming/parley-raw-1?access_token={token}", proxy=None) as ws:
        await ws.send(b"\0" * 3200)
        error = json.loads(await ws.recv())
        assert error["type"] == "error" and "before start_request" in error["message"]
        await ws.send(json.dumps(start_request(title="t", speaker_id="a", speaker_name="A")))
        assert json.loads(await ws.recv())["message"]["type"] == "conversation_created"
        await ws.recv(), await ws.recv()
        await ws.send(b"\0" * 8193)
        error = json.loads(await ws.recv())
        assert "exceeds the maximum of 8192 bytes" in error["message"]
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 1008


@pytest.mark.parametrize("change, problem", [
    ({"config": {"confidenceThreshold": 0.2}}, "confidenceThreshold"),
    ({"insightTypes": ["gossip"]}, "insightTypes"),
    ({"config": {"speechRecognition": {"encoding": "MULAW", "sampleRateHertz": 16000}}}, "MULAW at 16000"),
])
async def test_a_malformed_start_request_fails_the_session_with_symbls_reason(symbl, client, change, problem):
    start = start_request(title="t", speaker_id="a", speaker_name="A")
    for key, value in change.items():
        start[key] = {**start[key], **value} if isinstance(value, dict) else value
    session = StreamingSession(client, "parley-bad-start", start, lambda frame: asyncio.sleep(0))
    await session.open()
    with pytest.raises(SymblError, match=problem):
        await session.send_audio(b"\0" * 3200)
        await asyncio.wait_for(session.completed.wait(), 5)
        await session.send_audio(b"\0" * 3200)
    assert session.reconnects == 0


async def test_a_mulaw_8khz_stream_is_accepted(symbl, client, data_dir):
    # Telephony audio: the clock advances at 8,000 bytes a second.
    frames, _ = await stream(client, b"\xff" * 8000 * 4, encoding="MULAW", sample_rate=8000)
    assert [m["payload"]["content"] for m in finals(frames)] == [line.text for line in ENDGAME if line.start < 4]


async def test_without_no_connection_timeout_a_dropped_socket_starts_a_new_conversation(symbl, client, data_dir):
    symbl.drop_after_finals = 2
    frames, session = await stream(client, endgame_pcm(data_dir), connection_id="parley-no-timeout",
                                   no_connection_timeout=0)
    created = [f["message"]["data"]["conversationId"] for f in frames
               if f.get("type") == "message" and f["message"]["type"] == "conversation_created"]
    assert session.reconnects == 1 and len(set(created)) == 2  # Symbl ended the first one when its socket went


async def test_a_secret_revoked_mid_session_ends_it_with_unauthorized_not_endless_retries(symbl, client, data_dir):
    symbl.drop_after_finals = 2

    async def revoke(i):
        if i == 10:
            symbl.app_secret = "rotated"
            symbl.expire_tokens()

    with pytest.raises(Unauthorized, match="appSecret"):
        await stream(client, endgame_pcm(data_dir), connection_id="parley-revoked", mid=revoke)
    assert len(token_requests(symbl)) == 2


async def test_symbl_gone_for_good_ends_the_session_after_bounded_reconnects(symbl, client, data_dir, monkeypatch):
    monkeypatch.setattr(StreamingSession, "backoff_s", 0.01)  # the attempts, not the waits, are counted
    symbl.drop_after_finals = 1
    pcm = endgame_pcm(data_dir)

    async def vanish(i):
        if i == 5:
            # Gone before the next chunk: the port closed, then its sockets. (Sending the rest
            # while it shuts down would race the stop_request against the close.)
            await symbl.stop()

    with pytest.raises(SymblError, match="could not be re-established after 6 attempts"):
        await stream(client, pcm, connection_id="parley-vanish", mid=vanish)


# -- audio Symbl receives itself: telephony and managed RTMP streams, heard through Subscribe ------


async def test_a_telephony_call_plays_to_its_subscribers_until_stopped(symbl, client):
    from streaming.engines.symbl.subscribe import subscribe

    with pytest.raises(BadRequest):
        await client.request("POST", "/v1/endpoint:connect", json={
            "operation": "start", "endpoint": {"type": "pstn", "phoneNumber": "+14082924837"}})
    call = await client.request("POST", "/v1/endpoint:connect", json={
        "operation": "start", "endpoint": {"type": "pstn", "phoneNumber": "14082924837", "dtmf": ",,93929300#"},
        "data": {"session": {"name": "Dial-in"}}, "languages": ["en-US"]})
    assert set(call) == {"eventUrl", "resultWebSocketUrl", "connectionId", "conversationId"}
    heard = []

    async def on_frame(frame):
        heard.append(frame)

    listener = asyncio.create_task(subscribe(client, f"{client.ws_url}/session/subscribe/{call['connectionId']}",
                                             on_frame))
    await asyncio.sleep(2.0)  # real-time pace: line 2 runs 1.83–2.33 s, line 3 starts at 2.66 s
    stopped = await client.request("POST", "/v1/endpoint:connect", json={"operation": "stop",
                                                                        "connectionId": call["connectionId"]})
    assert stopped["conversationId"] == call["conversationId"] and stopped["summaryInfo"][0]["url"]
    assert await asyncio.wait_for(listener, 5) is True
    texts = [m["payload"]["content"] for f in heard if f["type"] == "message_response" for m in f["messages"]]
    assert texts == [line.text for line in ENDGAME[:2]]  # "Yes." had started: stop flushes it
    assert [m["text"] for m in await client.messages(call["conversationId"])] == texts
    with pytest.raises(NotFound):
        await client.request("POST", "/v1/endpoint:connect", json={"operation": "stop", "connectionId": "nope"})


async def test_a_managed_rtmp_stream_gives_a_subscription_url(symbl, client):
    from streaming.engines.symbl.subscribe import subscribe

    stream_ = await client.request("POST", "/v1/managed-stream", json={"protocol": "rtmp", "secure": True})
    assert stream_["streamUrl"].startswith("rtmps://") and stream_["streamUrl"].endswith(stream_["streamId"])
    started = await client.request("POST", "/v1/stream", json={"operation": "start", "streamId": stream_["streamId"]})
    assert started["subscriptionUrl"].endswith(f"/v1/subscribe/{started['connectionId']}")
    heard = []

    async def on_frame(frame):
        heard.append(frame)

    listener = asyncio.create_task(subscribe(client, started["subscriptionUrl"], on_frame))
    await asyncio.sleep(1.0)  # line 1 runs 0.3–1.5 s, line 2 starts at 1.83 s
    assert (await client.request("POST", "/v1/stream", json={"operation": "stop", "streamId": stream_["streamId"]})
            == {"message": "Stream stopped successfully."})
    assert await asyncio.wait_for(listener, 5) is True
    assert [m["payload"]["content"] for f in heard if f["type"] == "message_response"
            for m in f["messages"]] == [ENDGAME[0].text]
    with pytest.raises(NotFound):
        await client.request("POST", "/v1/stream", json={"operation": "start", "streamId": "unknown"})
