from django.db import models


class Engine(models.TextChoices):
    """Who turns a session's audio into text and insights."""

    LOCAL = "local", "Local (on-device)"
    SYMBL = "symbl", "Symbl.ai"
    DEEPGRAM = "deepgram", "Deepgram"
    ASSEMBLYAI = "assemblyai", "AssemblyAI"
