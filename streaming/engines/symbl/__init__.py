"""The Symbl.ai engine: REST client (``client``), Streaming API (``streaming``), Subscribe API
(``subscribe``), message mapping into Parley's protocol (``mapping``), Conversation API
reconciliation (``conversation``) and the engine itself (``engine``)."""
