"""Zoom: meetings streamed to Parley over RTMP, and Zoom's webhooks (``webhooks``)."""
