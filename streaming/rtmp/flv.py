"""RTMP audio messages to PCM: FLV audio tags carrying AAC.

An RTMP audio message's payload is an FLV ``AUDIODATA`` tag body (Adobe's FLV file format
specification v10.1, Annex E.4.2, https://veovera.org/docs/legacy/video-file-format-v10-1-spec.pdf):
one byte of SoundFormat (4 bits; 10 = AAC), SoundRate, SoundSize and SoundType, then for AAC an
``AACPacketType`` byte: 0 = the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1, what the decoder
needs first), 1 = one raw AAC frame. Zoom's custom live stream sends AAC, as FFmpeg and OBS do.

Decoding is PyAV's (FFmpeg's AAC decoder, the AudioSpecificConfig as its extradata); resampling
is :class:`streaming.audio.FrameResampler`, the one every source's audio goes through.
"""
import av

from streaming.audio import AudioError, FrameResampler

AAC = 10
SEQUENCE_HEADER, RAW = 0, 1
SOUND_FORMATS = {0: "linear PCM", 1: "ADPCM", 2: "MP3", 3: "linear PCM (little-endian)", 4: "Nellymoser 16 kHz",
                 5: "Nellymoser 8 kHz", 6: "Nellymoser", 7: "G.711 A-law", 8: "G.711 mu-law", 9: "extended header",
                 10: "AAC", 11: "Speex", 14: "MP3 8 kHz", 15: "device-specific"}


class FlvAudioError(ValueError):
    """An audio message Parley cannot decode (not AAC, no AudioSpecificConfig yet, a damaged
    frame); the message says which."""


class AacDecoder:
    """One publisher's audio: ``feed(payload)`` takes an RTMP audio message payload (bytes) and
    returns the PCM s16le mono 16 kHz bytes it completes (often none for the config); ``flush()``
    returns the resampler's tail at the end. Raises :class:`FlvAudioError`; after one the
    decoder goes on with the next message."""

    def __init__(self):
        self._codec = None
        self._resampler = FrameResampler()

    def feed(self, payload):
        if len(payload) < 2:
            raise FlvAudioError(f"an audio message of {len(payload)} bytes has no AAC header")
        sound_format = payload[0] >> 4
        if sound_format != AAC:
            name = SOUND_FORMATS.get(sound_format, f"format {sound_format}")
            raise FlvAudioError(f"the audio is {name}, not AAC")
        if payload[1] == SEQUENCE_HEADER:
            return self._configure(bytes(payload[2:]))
        if payload[1] != RAW:
            raise FlvAudioError(f"unknown AACPacketType {payload[1]}")
        if self._codec is None:
            raise FlvAudioError("raw AAC arrived before its AudioSpecificConfig")
        try:
            frames = self._codec.decode(av.Packet(bytes(payload[2:])))
            return b"".join(self._resampler.pcm(frame) for frame in frames)
        except AudioError as exc:
            raise FlvAudioError(str(exc)) from exc
        except (av.error.FFmpegError, ValueError) as exc:
            raise FlvAudioError(f"a damaged AAC frame: {exc}") from exc

    def _configure(self, config):
        if len(config) < 2:
            raise FlvAudioError(f"an AudioSpecificConfig of {len(config)} bytes (it takes at least 2)")
        # A new config mid-stream may change the rate or layout: finish the old audio first.
        tail = self.flush() if self._codec is not None else b""
        codec = av.CodecContext.create("aac", "r")
        codec.extradata = config
        self._codec = codec
        return tail

    def flush(self):
        resampler, self._resampler = self._resampler, FrameResampler()
        try:
            return resampler.pcm(None)
        except AudioError as exc:
            raise FlvAudioError(str(exc)) from exc
