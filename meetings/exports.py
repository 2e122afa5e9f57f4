"""A meeting as a file: plain text, Markdown, SRT, WebVTT or JSON (the API's shape).

:func:`export` returns ``(body, content_type, filename)``. Times come from the utterances (ms);
subtitle cues carry the speaker: SRT as ``Name: text``, WebVTT as a voice span ``<v Name>text``
(https://www.w3.org/TR/webvtt1/#webvtt-cue-voice-span). Only final utterances are exported.
"""
import json

from django.utils.text import slugify

from .review import turns
from .serializers import meeting_detail

FORMATS = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
}


def export(meeting, fmt):
    """``(body: str, content_type, filename)`` for ``fmt`` in :data:`FORMATS`; ``KeyError`` otherwise."""
    content_type = FORMATS[fmt]
    body = _RENDERERS[fmt](meeting)
    filename = f"{slugify(meeting.title) or 'meeting'}-{meeting.pk}.{fmt}"
    return body, content_type, filename


def _clock(ms):
    seconds = int(ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def _timestamp(ms, separator):
    ms = int(ms)
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02}:{minutes:02}:{seconds:02}{separator}{millis:03}"


def _name(speaker):
    return speaker.name if speaker else "Unknown speaker"


def _finals(meeting):
    return meeting.utterances.select_related("speaker")


def _txt(meeting):
    lines = [meeting.title, ""]
    for turn in turns(meeting):
        lines.append(f"{_name(turn.speaker)} [{_clock(turn.start_ms)}]")
        lines.extend(u.text for u in turn.utterances)
        lines.append("")
    return "\n".join(lines)


def _md_escape(text):
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_").replace("#", "\\#")


def _md(meeting):
    out = [f"# {_md_escape(meeting.title)}", ""]
    summary = getattr(meeting, "summary", None)
    out += ["## Summary", "", _md_escape(summary.text) if summary and summary.text else "_No summary._", ""]
    insights = list(meeting.insights.all())
    for kind, heading in (("action_item", "Action items"), ("question", "Questions"), ("follow_up", "Follow-ups")):
        items = [i for i in insights if i.type == kind]
        if not items:
            continue
        out += [f"## {heading}", ""]
        for i in items:
            box = ("[x] " if i.done else "[ ] ") if kind == "action_item" else ""
            extra = (f" — {_md_escape(i.assignee)}" if i.assignee else "") + (f", due {i.due.isoformat()}" if i.due else "")
            out.append(f"- {box}{_md_escape(i.text)}{extra}")
        out.append("")
    topics = list(meeting.topics.all())
    if topics:
        out += ["## Topics", "", ", ".join(_md_escape(t.phrase) for t in topics), ""]
    out += ["## Transcript", ""]
    for turn in turns(meeting):
        out.append(f"**{_md_escape(_name(turn.speaker))}** [{_clock(turn.start_ms)}]: "
                   + " ".join(_md_escape(u.text) for u in turn.utterances))
        out.append("")
    return "\n".join(out)


def _srt(meeting):
    cues = []
    for n, u in enumerate(_finals(meeting), 1):
        end = max(u.end_ms, u.start_ms + 1)
        cues.append(f"{n}\n{_timestamp(u.start_ms, ',')} --> {_timestamp(end, ',')}\n{_name(u.speaker)}: {u.text}\n")
    return "\n".join(cues)


def _vtt_text(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt(meeting):
    cues = ["WEBVTT", ""]
    for u in _finals(meeting):
        end = max(u.end_ms, u.start_ms + 1)
        cues.append(f"u{u.pk}\n{_timestamp(u.start_ms, '.')} --> {_timestamp(end, '.')}\n"
                    f"<v {_vtt_text(_name(u.speaker))}>{_vtt_text(u.text)}\n")
    return "\n".join(cues)


def _json(meeting):
    return json.dumps(meeting_detail(meeting), ensure_ascii=False, indent=1)


_RENDERERS = {"txt": _txt, "md": _md, "srt": _srt, "vtt": _vtt, "json": _json}
