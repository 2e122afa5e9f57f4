"""Parley's RTMP ingest, written here: ``chunks`` (handshake and chunk stream), ``amf0`` (command
encoding), ``flv`` (AAC audio messages to PCM) and ``server`` (an asyncio server taking published
streams on one port). The Zoom source puts it to use (:mod:`streaming.zoom.rtmp`)."""
