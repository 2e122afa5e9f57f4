"""Live events to the browser sockets of this process: one group membership per watched meeting,
however many of its sockets this process serves.

The persister publishes each event once to the meeting's Channels group on the live layer
(:data:`streaming.persist.LIVE_LAYER`; Redis pub/sub in production, so an event crosses Redis once
per process). Here the process's :class:`Fanout` is the group's one member for all its sockets:
it receives the event once and hands it to each watcher in turn (``await
watcher.deliver(message)``), in the order published.

Why not a channel per socket, as Channels' consumers usually have: an event then woke one
consumer task per socket (a queue, a decode of the message, an ``asyncio.wait`` and a new task
each), which at 100 meetings × 20 sockets (``bench.live``) was about a third of a Daphne process's
work, for no behaviour of its own.

A watcher's ``deliver`` must not wait on anything but the socket's send (which Daphne does not
suspend on): every meeting of the process is delivered from the one task. Work that waits, such
as reading a missed event from the log, runs in a task of the watcher's own.
"""
import asyncio
import logging

from channels.layers import get_channel_layer

from .loops import loop_local

log = logging.getLogger(__name__)

RETRY_S = 1.0  # after the layer failed to receive (Redis restarting): how long before trying again


class _Group:
    __slots__ = ("watchers", "joined", "lock")

    def __init__(self):
        self.watchers = set()
        self.joined = False
        self.lock = asyncio.Lock()


class Fanout:
    """One per event loop and channel layer alias (see the module's docstring)."""

    _by_loop = {}

    @classmethod
    def get(cls, alias):
        return loop_local(cls._by_loop, alias, lambda: cls(alias))

    def __init__(self, alias):
        self.layer = get_channel_layer(alias)
        self.groups = {}
        self.channel = None
        self.pump = None
        self.ready = asyncio.Lock()

    async def watch(self, group, watcher):
        """Deliver the group's messages to ``watcher`` from now on. Returns once the process is
        in the group: a message published after that reaches ``watcher``."""
        await self._start()
        entry = self.groups.get(group)
        if entry is None:
            entry = self.groups[group] = _Group()
        entry.watchers.add(watcher)
        async with entry.lock:
            if not entry.joined:
                await self.layer.group_add(group, self.channel)
                entry.joined = True

    async def unwatch(self, group, watcher):
        """Stop delivering to ``watcher``; the process leaves the group with its last watcher."""
        entry = self.groups.get(group)
        if entry is None or watcher not in entry.watchers:
            return
        entry.watchers.discard(watcher)
        async with entry.lock:
            if entry.joined and not entry.watchers:
                entry.joined = False
                await self.layer.group_discard(group, self.channel)
            if not entry.watchers and self.groups.get(group) is entry:
                del self.groups[group]

    def watching(self, group):
        """How many watchers of ``group`` this process has."""
        entry = self.groups.get(group)
        return len(entry.watchers) if entry else 0

    async def _start(self):
        async with self.ready:
            if self.pump is None:
                self.channel = await self.layer.new_channel("fanout.")
                self.pump = asyncio.create_task(self._pump())

    async def _pump(self):
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis gone for a moment: the events are in the log, and each watcher fills the
                # gap from there when the next one arrives.
                log.exception("the live channel layer failed to receive; retrying in %.0f s", RETRY_S)
                await asyncio.sleep(RETRY_S)
                continue
            entry = self.groups.get(message.get("group"))
            if entry is None:
                continue
            for watcher in list(entry.watchers):
                try:
                    await watcher.deliver(message)
                except Exception:
                    log.exception("delivering %s to a watcher failed", message.get("type"))
