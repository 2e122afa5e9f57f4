"""The embedded default's channel layer: Channels' in-memory layer, with its housekeeping paced.

Channels' :class:`~channels.layers.InMemoryChannelLayer` sweeps every channel and every group
membership for expired messages on each ``receive`` and each ``group_send``, and sends to a
group through one task per member. A Twilio call hands its audio to its runner ten times a
second per track, and each watching browser has a channel: at 50 calls that sweep alone took
8 % of the process (``bench.twilio``). Here the sweep runs at most once every
:attr:`~InProcessChannelLayer.sweep_interval` seconds (messages expire after ``expiry``, 60 s by
default, so they still do, within a second of it), a group message is put on each member's
channel directly, and a receiver's copy of a message deep-copies only its mutable values (Channels
deep-copies the whole message: the audio a call hands over, 800 bytes ten times a second a track,
went through ``copy.deepcopy`` each time). Everything else, capacity and ``ChannelFull``
included, is Channels' own
(https://channels.readthedocs.io/en/latest/topics/channel_layers.html#in-memory-channel-layer).
"""
import asyncio
import time
from copy import deepcopy
from time import monotonic

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

_IMMUTABLE = (str, bytes, int, float, bool, type(None))


class InProcessChannelLayer(InMemoryChannelLayer):
    sweep_interval = 1.0  # seconds

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0

    def _clean_expired(self):
        now = monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_interval
            super()._clean_expired()

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        copy = {key: value if isinstance(value, _IMMUTABLE) else deepcopy(value) for key, value in message.items()}
        try:
            queue.put_nowait((time.time() + self.expiry, copy))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            try:
                await self.send(channel, message)
            except ChannelFull:
                pass  # as Channels' layers do: a full member misses the message, the others get it
