"""The bot-vendor interface: what Parley asks of any meeting-bot API, and what its callbacks mean.

A vendor is one module with a :class:`Vendor` subclass, registered in :data:`VENDORS` by dotted
path (MeetStream: ``meetings.bots.meetstream``; Recall.ai or Attendee would each be one more
module, api-contracts §11.2–11.3). A vendor turns its callbacks into the normalised records below,
which ``meetings.bots.lifecycle`` applies without knowing the vendor.
"""
from dataclasses import dataclass, field
from importlib import import_module

VENDORS = {
    "meetstream": "meetings.bots.meetstream:MeetStream",
}


class VendorError(RuntimeError):
    """The vendor refused or failed a call; ``str()`` is shown to the user as it is.

    ``status`` is the HTTP status (None when the vendor could not be reached).
    """

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


@dataclass
class Created:
    """A bot the vendor accepted: its id, and the id of its post-call transcript (or "")."""

    bot_id: str
    transcript_id: str = ""
    replayed: bool = False


@dataclass
class Lifecycle:
    """A status callback. ``status`` is a :class:`~meetings.models.Bot.Status` value, or "" for an
    event that only records something (``audio_processed`` etc.); ``key`` identifies the event
    so a repeat is recognised."""

    key: str
    kind: str
    status: str = ""
    message: str = ""
    audio_processed: bool = False
    transcript_processed: bool = False
    transcript_failed: bool = False
    data_deleted: bool = False
    deleted_objects: int | None = None


@dataclass
class Participant:
    """A participant joined (``joined`` True) or left the meeting."""

    key: str
    participant_id: str
    name: str
    joined: bool


@dataclass
class Words:
    """Live transcription: what ``speaker_id``/``speaker_name`` said so far in the current turn.

    ``words``: ``[{"word": str, "start": s, "end": s, "confidence": 0..1}]``, seconds from the
    bot's start; ``end_of_turn`` commits the turn as one utterance.
    """

    key: str
    speaker_id: str
    speaker_name: str
    text: str
    words: list = field(default_factory=list)
    end_of_turn: bool = False


@dataclass
class Unknown:
    """A callback this vendor module does not understand: kept and logged, never fatal."""

    key: str
    kind: str


@dataclass
class Segment:
    """One utterance of a post-call transcript: seconds from the bot's start."""

    speaker: str
    text: str
    start_s: float
    end_s: float


class Vendor:
    """One bot vendor's API for one workspace. Every method raises :class:`VendorError`."""

    name = "vendor"

    def create(self, bot):
        """Send ``bot`` (a :class:`~meetings.models.Bot`) to its meeting; returns :class:`Created`."""
        raise NotImplementedError

    def status(self, bot_id):
        """The bot's status as the vendor reports it (its own words)."""
        raise NotImplementedError

    def remove(self, bot_id):
        """Make the bot leave the meeting (its data stays)."""
        raise NotImplementedError

    def delete_data(self, bot_id):
        """Delete what the vendor keeps of the bot (recording, transcript)."""
        raise NotImplementedError

    def transcript(self, transcript_id):
        """The post-call transcript as :class:`Segment` list, or None while it is not ready."""
        raise NotImplementedError

    def audio_url(self, bot_id):
        """A short-lived URL of the bot's recording."""
        raise NotImplementedError

    def parse(self, payload):
        """One callback body (a dict) as :class:`Lifecycle`, :class:`Participant`, :class:`Words` or :class:`Unknown`."""
        raise NotImplementedError

    def verify(self, body, headers):
        """Whether a callback's raw ``body`` carries the vendor's valid signature; True when the
        workspace set no signing secret (the per-bot URL token is then the only proof)."""
        raise NotImplementedError


def vendor_for(bot, workspace=None):
    """The :class:`Vendor` of ``bot.vendor`` with the credentials of ``workspace`` (the bot's meeting's by default)."""
    module, attr = VENDORS[bot.vendor].split(":")
    return getattr(import_module(module), attr).for_workspace(workspace or bot.meeting.workspace)
