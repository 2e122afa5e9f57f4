"""An asyncio RTMP server that takes published streams: many publishers, one port.

Adobe's RTMP specification 1.0 (https://rtmp.veriskope.com/docs/spec/) §7.2 and §7.3, as
publishers (Zoom's custom live stream, FFmpeg, OBS) speak it:

1. handshake (:func:`~.chunks.server_handshake`);
2. ``connect`` (command object with ``app``) → Window Acknowledgement Size, Set Peer Bandwidth,
   Set Chunk Size, then ``_result`` with ``NetConnection.Connect.Success``; an app other than the
   server's gets ``_error`` ``NetConnection.Connect.Rejected`` and the connection closes;
3. ``releaseStream`` / ``FCPublish`` (answered ``_result``), ``createStream`` (``_result`` with a
   message stream id);
4. ``publish`` (stream name = the RTMP stream key) → ``open_publication(app, key, peer)`` decides:
   a publication gets User Control Stream Begin and ``onStatus`` ``NetStream.Publish.Start``;
   ``None`` gets ``onStatus`` ``NetStream.Publish.BadName`` and the connection closes;
5. audio messages go to the publication; video and data messages are read and dropped; every byte
   counts towards the Acknowledgements the peer's window asks for;
6. ``FCUnpublish`` / ``deleteStream`` / the socket closing / ``idle_seconds`` without a byte end
   the publication (``await publication.close()``).

The listening socket sets ``SO_REUSEPORT``, so several processes (each session runner) can serve
one port: the kernel spreads new connections across them.
"""
import asyncio
import logging
import struct

from . import amf0
from .chunks import (AUDIO, COMMAND_AMF0, COMMAND_AMF3, HANDSHAKE_SIZE, STREAM_BEGIN, USER_CONTROL,
                     WINDOW_ACK_SIZE, ChunkParser, ChunkWriter, Message, ProtocolError, acknowledgement,
                     server_handshake, set_chunk_size, set_peer_bandwidth, user_control, window_ack_size)

log = logging.getLogger(__name__)

WINDOW = 2_500_000  # bytes between Acknowledgements, both ways (what Flash Media Server announces)
OUT_CHUNK_SIZE = 4096
PING_REQUEST, PING_RESPONSE = 6, 7  # User Control events (§7.1.7)
_COMMAND_CSID, _STATUS_CSID = 3, 5


class RtmpServer:
    """See the module docstring.

    ``open_publication(app, key, peer)`` (async) returns an object with ``async audio(timestamp_ms,
    payload)`` and ``async close()``, or None to refuse the key; ``peer`` is ``"host:port"``.
    :meth:`start` raises ``OSError`` when the port cannot be bound.
    """

    def __init__(self, open_publication, *, host, port, app="live", idle_seconds=10.0):
        self.open_publication = open_publication
        self.host, self.port, self.app, self.idle_seconds = host, port, app, idle_seconds
        self._server = None
        self._connections = set()

    async def start(self):
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_port=True)
        return self

    async def close(self):
        """Stop listening and end every connection (their publications close)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, reader, writer):
        task = asyncio.current_task()
        self._connections.add(task)
        host, port = (writer.get_extra_info("peername") or ("?", 0))[:2]
        connection = _Connection(self, reader, writer, f"{host}:{port}")
        try:
            await connection.run()
        except (ProtocolError, amf0.AmfError) as exc:
            log.warning("RTMP %s: protocol error, closing: %s", connection.peer, exc)
        except TimeoutError:
            log.info("RTMP %s: nothing received for %g s, closing", connection.peer, self.idle_seconds)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("RTMP %s: connection lost (%s)", connection.peer, exc.__class__.__name__)
        except Exception:
            # One publisher's trouble (a database hiccup at its key check) ends only its connection.
            log.exception("RTMP %s: connection failed", connection.peer)
        finally:
            self._connections.discard(task)
            try:
                await connection.unpublish()
            finally:
                writer.close()


class _Connection:
    def __init__(self, server, reader, writer, peer):
        self.server, self.reader, self.writer, self.peer = server, reader, writer, peer
        self.parser, self.chunks = ChunkParser(), ChunkWriter()
        self.received = self.acked = 0
        self.window = WINDOW
        self.app = None
        self.next_stream_id = 1
        self.publication = None
        self.closing = False

    async def _read(self, size=None):
        read = self.reader.readexactly(size) if size else self.reader.read(65536)
        data = await asyncio.wait_for(read, self.server.idle_seconds)
        self.received += len(data)
        return data

    async def run(self):
        self.writer.write(server_handshake(await self._read(1 + HANDSHAKE_SIZE)))
        await self.writer.drain()
        await self._read(HANDSHAKE_SIZE)  # C2
        while not self.closing and (data := await self._read()):
            for message in self.parser.feed(data):
                await self._handle(message)
                if self.closing:
                    break
            if self.received - self.acked >= self.window:
                self.acked = self.received
                await self._send(acknowledgement(self.received))

    async def _send(self, *messages):
        for message in messages:
            self.writer.write(self.chunks.encode(message))
        await self.writer.drain()

    async def _handle(self, message):
        kind = message.type_id
        if kind == AUDIO:
            if self.publication is not None:
                await self.publication.audio(message.timestamp, message.payload)
        elif kind in (COMMAND_AMF0, COMMAND_AMF3):
            # An AMF3 command is AMF0 behind one format byte (§7.1.1).
            payload = message.payload[1:] if kind == COMMAND_AMF3 else message.payload
            await self._command(message.stream_id, amf0.decode(payload))
        elif kind == WINDOW_ACK_SIZE:
            self.window = max(1, struct.unpack(">I", message.payload[:4])[0]) if len(message.payload) >= 4 else WINDOW
        elif kind == USER_CONTROL and message.payload[:2] == PING_REQUEST.to_bytes(2, "big"):
            await self._send(Message(USER_CONTROL, 0, 0, PING_RESPONSE.to_bytes(2, "big") + message.payload[2:6], 2))
        # Set Chunk Size and Abort are applied by the parser; the peer's Acknowledgements, Set Peer
        # Bandwidth, video and data messages (onMetaData) need nothing from a server that only listens.

    async def _command(self, stream_id, values):
        if len(values) < 2 or not isinstance(values[0], str):
            raise ProtocolError(f"a command message without a name and transaction id: {values!r:.200}")
        name, txn, args = values[0], values[1], values[3:]
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            await handler(txn, values[2] if len(values) > 2 else None, args, stream_id)
        elif txn:
            await self._reply("_result", txn, None)

    async def _reply(self, name, txn, *values, stream_id=0, csid=_COMMAND_CSID):
        await self._send(Message(COMMAND_AMF0, stream_id, 0, amf0.encode(name, txn, *values), csid))

    async def _on_connect(self, txn, command, args, stream_id):
        app = str((command or {}).get("app", "")).split("?")[0].strip("/")
        if app != self.server.app:
            log.warning("RTMP %s: refused app %r (this server serves %r)", self.peer, app, self.server.app)
            await self._reply("_error", txn, None, _status("error", "NetConnection.Connect.Rejected",
                                                          f"Unknown application {app!r}."))
            self.closing = True
            return
        self.app = app
        await self._send(window_ack_size(WINDOW), set_peer_bandwidth(WINDOW), set_chunk_size(OUT_CHUNK_SIZE))
        self.chunks.chunk_size = OUT_CHUNK_SIZE
        await self._reply("_result", txn, {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
                          {**_status("status", "NetConnection.Connect.Success", "Connection succeeded."),
                           "objectEncoding": 0})

    async def _on_createStream(self, txn, command, args, stream_id):
        created, self.next_stream_id = self.next_stream_id, self.next_stream_id + 1
        await self._reply("_result", txn, None, created)

    async def _on_publish(self, txn, command, args, stream_id):
        key = str(args[0] if args else "").split("?")[0]
        if self.app is None:
            raise ProtocolError("publish before connect")
        if self.publication is not None:
            raise ProtocolError("a second publish on one connection")
        self.publication = await self.server.open_publication(self.app, key, self.peer)
        if self.publication is None:
            await self._reply("onStatus", 0, None, _status("error", "NetStream.Publish.BadName",
                                                           "No active stream has this stream key."),
                              stream_id=stream_id, csid=_STATUS_CSID)
            self.closing = True
            return
        await self._send(user_control(STREAM_BEGIN, stream_id))
        await self._reply("onStatus", 0, None, _status("status", "NetStream.Publish.Start", "Publishing."),
                          stream_id=stream_id, csid=_STATUS_CSID)

    async def _on_FCUnpublish(self, txn, command, args, stream_id):
        await self.unpublish()

    async def _on_deleteStream(self, txn, command, args, stream_id):
        await self.unpublish()

    async def unpublish(self):
        publication, self.publication = self.publication, None
        if publication is not None:
            await publication.close()


def _status(level, code, description):
    return {"level": level, "code": code, "description": description}
