"""On-device text insights: questions, action items, follow-ups, topics and an extractive summary.

Works on final transcript utterances with no network and no accounts; see :mod:`.pipeline`.
"""
from .pipeline import InsightPipeline, Utterance, transcript_insights

__all__ = ["InsightPipeline", "Utterance", "transcript_insights"]
