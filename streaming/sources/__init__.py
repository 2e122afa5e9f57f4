"""Sources: how a session's audio arrives. One module per source, registered here."""
from .microphone import MicrophoneSource
from .upload import UploadSource

SOURCES = {
    "upload": UploadSource,
    "microphone": MicrophoneSource,
}


def source_class(name):
    """The Source class for a ``Meeting.source``; raises KeyError for a source not built yet."""
    return SOURCES[name]
