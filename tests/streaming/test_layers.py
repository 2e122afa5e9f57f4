"""The embedded default's channel layer keeps Channels' in-memory semantics: delivery to every
member of a group, capacity, expiry (now checked at most once a second)."""
import asyncio

import pytest
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from streaming.layers import InProcessChannelLayer


async def test_a_group_message_reaches_every_member_as_its_own_copy():
    layer = InProcessChannelLayer()
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("meeting.1", channel)
    await layer.group_add("meeting.2", await layer.new_channel())
    await layer.group_send("meeting.1", {"type": "meeting.event", "seq": 1, "said": ["hello"]})
    received = [await asyncio.wait_for(layer.receive(c), 1) for c in channels]
    assert received == [{"type": "meeting.event", "seq": 1, "said": ["hello"]}] * 3
    received[0]["said"].append("changed")
    assert received[1]["said"] == ["hello"]


async def test_a_full_member_misses_the_message_and_the_others_get_it():
    layer = InProcessChannelLayer(capacity=1)
    full, free = await layer.new_channel(), await layer.new_channel()
    for channel in (full, free):
        await layer.group_add("meeting.1", channel)
    await layer.send(full, {"type": "first"})
    with pytest.raises(ChannelFull):
        await layer.send(full, {"type": "second"})
    await layer.group_send("meeting.1", {"type": "third"})
    assert await layer.receive(full) == {"type": "first"}
    assert await layer.receive(free) == {"type": "third"}


async def test_expired_messages_are_dropped_and_their_channel_leaves_its_groups():
    layer = InProcessChannelLayer(expiry=1)
    stale, fresh = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("meeting.1", stale)
    await layer.group_add("meeting.1", fresh)
    await layer.send(stale, {"type": "old"})
    await asyncio.sleep(1.1)
    await layer.group_send("meeting.1", {"type": "new"})
    assert stale not in layer.channels and list(layer.groups["meeting.1"]) == [fresh]
    assert await layer.receive(fresh) == {"type": "new"}


async def test_the_expiry_sweep_runs_at_most_once_a_second(monkeypatch):
    sweeps, clock = [], [1000.0]
    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", lambda self: sweeps.append(clock[0]))
    monkeypatch.setattr("streaming.layers.monotonic", lambda: clock[0])
    layer = InProcessChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("meeting.1", channel)
    for _ in range(4):  # at 1000.0, 1000.4, 1000.8, 1001.2
        await layer.group_send("meeting.1", {"type": "meeting.event"})
        await layer.receive(channel)
        clock[0] += 0.4
    assert sweeps == [1000.0, pytest.approx(1001.2)]


async def test_a_message_of_immutable_values_is_handed_over_without_copying_them():
    layer = InProcessChannelLayer()
    channel = await layer.new_channel()
    audio = bytes(800)
    message = {"type": "twilio.media", "track": "inbound", "ulaw": audio, "ts": 20, "nested": {"a": [1]}}
    await layer.send(channel, message)
    received = await layer.receive(channel)
    assert received == message and received is not message
    assert received["ulaw"] is audio and received["nested"] is not message["nested"]
