"""Deepgram: live and pre-recorded speech-to-text, with Parley's own insights."""
