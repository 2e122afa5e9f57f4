"""Sources: how a session's audio arrives. One module per source, registered here by dotted path
(imported when a session of that source runs, so a source's dependencies load only where used)."""
from importlib import import_module

SOURCES = {
    "upload": "streaming.sources.upload:UploadSource",
    "microphone": "streaming.sources.microphone:MicrophoneSource",
    "zoom": "streaming.zoom.source:ZoomSource",
    "twilio": "telephony.twilio.source:TwilioSource",
    "dial_in": "telephony.dialin.source:DialInSource",
    "bot": "meetings.bots.source:BotSource",
}


def source_class(name):
    """The Source class for a ``Meeting.source``; raises KeyError for a source not built yet."""
    try:
        module, attr = SOURCES[name].split(":")
        return getattr(import_module(module), attr)
    except (ImportError, AttributeError):
        raise KeyError(f"the {name!r} source is not part of this Parley yet") from None
