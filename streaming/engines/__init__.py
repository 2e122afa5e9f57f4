"""Engines: who turns audio into text and insights. One package per engine, registered here.

Imported lazily, so a process that never runs the local engine never loads Whisper. What the cloud
speech engines share is in :mod:`.transcript`.
"""
from importlib import import_module

from .base import EngineError

ENGINES = {
    "local": "streaming.engines.local.engine:LocalEngine",
    "symbl": "streaming.engines.symbl.engine:SymblEngine",
    "deepgram": "streaming.engines.deepgram.engine:DeepgramEngine",
    "assemblyai": "streaming.engines.assemblyai.engine:AssemblyAIEngine",
}


def available_engines():
    return list(ENGINES)


def engine_class(name):
    """The Engine class for a ``Meeting.engine``; raises :class:`EngineError` for one not built yet."""
    try:
        module, attr = ENGINES[name].split(":")
    except KeyError:
        raise EngineError(f"the {name!r} engine is not part of this Parley yet") from None
    return getattr(import_module(module), attr)
