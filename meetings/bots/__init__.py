"""Meeting bots: a vendor's bot joins a Zoom, Google Meet or Teams meeting for Parley.

``vendor`` is the interface every bot vendor implements (``meetstream`` first); ``forms`` the bot
form; ``lifecycle`` applies callbacks; ``source`` is the session source that follows a bot's
meeting; ``api``, ``views``, ``urls`` and ``routing`` are its HTTP and WebSocket faces.
"""
