"""Zoom meetings as a source: ``client`` (Zoom's REST API), ``rtmp`` (Parley's own RTMP ingest),
``source`` (the session's audio: Parley's ingest, or Symbl's managed stream on the symbl engine),
``sessions`` and ``api`` (starting one), ``webhooks`` (Zoom's event notifications), ``timeline`` and
``speakers`` (speaker separation from the recording's TIMELINE file), ``views`` (the pages)."""
