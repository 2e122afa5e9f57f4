"""What a speech emulator's live connection heard, for the scripted recognizers of
``tests/fakes/deepgram.py`` and ``tests/fakes/assemblyai.py``.

A scripted recognizer knows the words of one recording and when each is said. Two things make it
answer like a real one:

* **Where the audio sits in the recording.** A client that reconnects after a dropped socket replays
  the audio it sent since the last final result: the new connection's audio starts mid-recording,
  and its times count from that start. :class:`Heard` finds the offset by looking up the
  connection's first audio in what earlier connections received (the replay is the same bytes).
* **Only what is said is heard.** A line of the script is recognized only when the audio during it
  carries speech (:meth:`Heard.speech_in`): a Twilio call's track, silent while the other party
  speaks, gives only its own party's lines.
"""
import numpy as np

NEEDLE_S = 0.25  # of a connection's first audio, looked up in earlier connections'
SPEECH_RMS = 300  # int16 RMS over a line: a quiet room is ~40, speech thousands


def _mulaw_table():
    # G.711 mu-law expansion (ITU-T G.711): the bits are inverted, then sign, exponent, mantissa.
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((codes & 0x0F) << 3) + 0x84) << ((codes & 0x70) >> 4)
    return np.where(codes & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


MULAW = _mulaw_table()


class Heard:
    """One live connection's audio (``encoding`` "linear16"/"pcm_s16le" or "mulaw"/"pcm_mulaw" at
    ``sample_rate`` Hz); ``earlier``: the emulator's previous connections (:class:`Heard`)."""

    def __init__(self, encoding, sample_rate, earlier=()):
        self.mulaw = "mulaw" in encoding
        self.sample_rate = sample_rate
        self.bytes_per_second = sample_rate * (1 if self.mulaw else 2)
        self.earlier = list(earlier)
        self.audio = bytearray()
        self.offset_s = None  # where this audio starts in the recording, once located
        self.final_ends_s = []  # where each final result given on this connection ends in the recording

    @property
    def received_s(self):
        return len(self.audio) / self.bytes_per_second

    @property
    def clock(self):
        """The recording's time (s) the audio received has reached; None before it is located."""
        return None if self.offset_s is None else self.offset_s + self.received_s

    def hear(self, data, *, last=False):
        """Take ``data`` (bytes); True once the connection's offset is known (``last``: no more audio
        comes, locate with what there is)."""
        self.audio += data
        if self.offset_s is None and (last or self.received_s >= NEEDLE_S):
            self.offset_s = self._locate()
        return self.offset_s is not None

    def _locate(self):
        needle = bytes(self.audio[: int(NEEDLE_S * self.bytes_per_second)])
        if len(set(needle)) <= 1:
            return 0.0  # digital silence is everywhere: a new stream
        width = 1 if self.mulaw else 2
        for other in reversed(self.earlier):
            if other.offset_s is None or other.bytes_per_second != self.bytes_per_second:
                continue
            at = bytes(other.audio).find(needle)
            while at >= 0 and at % width:
                at = bytes(other.audio).find(needle, at + 1)
            if at >= 0:
                return other.offset_s + at / other.bytes_per_second
        return 0.0

    def samples(self, start_s, end_s):
        """The int16 samples heard between two times of the recording."""
        first = max(0, int((start_s - self.offset_s) * self.sample_rate))
        last = max(first, int((end_s - self.offset_s) * self.sample_rate))
        if self.mulaw:
            return MULAW[np.frombuffer(bytes(self.audio[first:last]), dtype=np.uint8)]
        return np.frombuffer(bytes(self.audio[2 * first: 2 * last]), dtype=np.int16)

    def speech_in(self, start_s, end_s):
        """Whether the audio between two times of the recording (s) carries speech."""
        samples = self.samples(start_s, end_s).astype(np.float64)
        return bool(len(samples)) and float(np.sqrt(np.mean(samples ** 2))) >= SPEECH_RMS


def drop_connection(request, outbox, sender, code):
    """Drop a live connection as a failing server does: the frames not sent yet are lost; with 1006
    the TCP connection is cut (no close frame), else the caller closes with ``code``."""
    while not outbox.empty():
        outbox.get_nowait()
    if code == 1006:
        sender.cancel()
        if request.transport is not None:
            request.transport.abort()
