"""Zoom speaker separation: a cloud recording's TIMELINE file → speaker events → who said what.

The TIMELINE file (``shared/api-contracts.md`` §8) lists, every few hundred ms, who Zoom heard:
``{"timeline": [{"ts": "HH:MM:SS.mmm", "users": [{"user_id": int, "username", "email_address",
"zoom_userid", …}]}], "version": 1}``, ``ts`` from the recording's start, ``users: []`` in silence.

:func:`convert` turns it into Symbl's Speakers API events (``PUT /v1/conversations/{id}/speakers``,
https://docs.symbl.ai/docs/conversation-api/speaker-events): ``[{"type": "started_speaking" |
"stopped_speaking", "user": {"id", "name", "email"}, "offset": {"seconds": int, "nanos": int}}]``,
with exactly the algorithm of Symbl's own converter (``symblai/speaker-events-converter``,
``converter/zoom/index.js``; §9), quirks included, so that a conversation attributed by Parley
matches one attributed by Symbl's tool:

* only the first of several simultaneous speakers counts;
* same-speaker turns merge until someone else speaks, and turns of 0.5 s or less vanish;
* a stop followed more than 0.75 s later by another speaker's start is moved to that start;
* durations are compared as ``float(f"{seconds}.{nanos}")`` (the converter's own reading, wrong
  for nanos with fewer than 9 digits, e.g. 50 ms reads as 0.5 s).

:func:`shift` moves the events from the recording's clock to the stream's (offsets relative to
the stream's start); :func:`turns` and :func:`attribute` give the local engine its speaker
attribution: each utterance goes to the participant who spoke longest during it.
"""
import json
import math
import re

STARTED, STOPPED = "started_speaking", "stopped_speaking"
_INDEX_KEY = re.compile(r"0|[1-9]\d*")


class TimelineError(ValueError):
    """A TIMELINE file that cannot be read; the message says where."""


def entries(data):
    """The timeline's entries from a parsed file (``{"timeline": [...]}`` or the bare list) or its
    JSON text. Raises :class:`TimelineError` naming the first bad entry (each needs ``ts`` and a
    list ``users``)."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise TimelineError(f"The TIMELINE file is not JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("timeline")
    if not isinstance(data, list):
        raise TimelineError("A TIMELINE file holds a 'timeline' list (or is that list).")
    for index, entry in enumerate(data):
        if not (isinstance(entry, dict) and entry.get("ts") and isinstance(entry.get("users"), list)):
            raise TimelineError(f"The TIMELINE entry at index {index} lacks 'ts' or a 'users' list.")
    return data


def offset(ts):
    """``"HH:MM:SS.mmm"`` → ``{"seconds": int, "nanos": int}``, rounded as the converter does."""
    try:
        hours, minutes, seconds = (float(part) for part in str(ts).split(":"))
    except ValueError:
        raise TimelineError(f"Bad TIMELINE timestamp {ts!r}: expected HH:MM:SS.mmm.") from None
    total = hours * 3600 + minutes * 60 + seconds
    whole, _, fraction = f"{math.trunc(total * 1e9) * 1e-9:.9f}".partition(".")
    return {"seconds": int(whole), "nanos": int(fraction or 0)}


def _seconds(event):
    # The converter's reading of an offset (see the module docstring): kept for identical output.
    return float(f"{event['offset']['seconds']}.{event['offset']['nanos']}")


def _user(entry_user):
    user_id = entry_user.get("user_id")
    return {"id": (str(user_id) if user_id else None) or entry_user.get("zoom_userid"),
            "name": entry_user.get("username"), "email": entry_user.get("email_address")}


def _keys(table):
    """``table``'s keys in JavaScript's property order (integer-like keys first, ascending), which
    decides the order the converter flushes overlapping turns in."""
    index_like = sorted((k for k in table if _INDEX_KEY.fullmatch(k) and int(k) < 2**32 - 1), key=int)
    return index_like + [k for k in table if k not in index_like]


def _first_pass(timeline):
    events, active = [], {}  # active: user_id -> the entry's user (at most one)

    def stop_all(at):
        for who in active.values():
            events.append({"type": STOPPED, "user": _user(who), "offset": at})

    for index, entry in enumerate(timeline):
        following = timeline[index + 1] if index + 1 < len(timeline) else None
        at = offset(entry["ts"])
        for who in entry["users"][:1]:
            user, key = _user(who), who.get("user_id")
            if key not in active:
                stop_all(at)
                events.append({"type": STARTED, "user": user, "offset": at})
                active = {key: who}
            else:
                del active[key]
                events.append({"type": STOPPED, "user": user,
                               "offset": offset(following["ts"]) if following else at})
                if following and following["users"][:1] and following["users"][0].get("user_id") == key:
                    active[key] = who
                    events.append({"type": STARTED, "user": user, "offset": at})
        if not entry["users"]:
            stop_all(at)
            active = {}
    return events


def _condense(events):
    condensed, open_turns = [], {}  # user id (str) -> {"started": event, "stopped": event}

    def flush(keys):
        for key in keys:
            turn = open_turns[key]
            if "started" in turn and "stopped" in turn:
                if _seconds(turn["stopped"]) - _seconds(turn["started"]) > 0.5:
                    condensed.extend((turn["started"], turn["stopped"]))
                del open_turns[key]

    for event in events:
        key = str(event["user"]["id"])
        if key not in open_turns and event["type"] == STARTED:
            open_turns[key] = {"started": event}
        if event["type"] == STOPPED and key in open_turns:
            open_turns[key]["stopped"] = event
        if len(open_turns) > 1:
            flush(_keys(open_turns))
    flush(_keys(open_turns))
    return condensed


def _adjust_stops(events):
    for i in range(len(events) - 1):
        this, following = events[i], events[i + 1]
        if (this["user"]["id"] != following["user"]["id"] and this["type"] == STOPPED
                and following["type"] == STARTED and _seconds(following) - _seconds(this) > 0.75):
            events[i] = {**this, "offset": following["offset"]}
    return events


def convert(data):
    """Speaker events for a TIMELINE (parsed JSON, JSON text, or the entries list).

    Returns ``[{"type", "user": {"id": str, "name", "email"}, "offset": {"seconds", "nanos"}}]`` in
    time order of turns, offsets from the recording's start; the body of Symbl's Speakers API is
    ``{"speakerEvents": convert(...)}``. Raises :class:`TimelineError` for a malformed file.
    """
    return _adjust_stops(_condense(_condense(_first_pass(entries(data)))))


def offset_ms(event):
    """An event's offset in ms (exact, not the converter's quirky reading)."""
    return event["offset"]["seconds"] * 1000 + event["offset"]["nanos"] // 1_000_000


def shift(events, delta_ms):
    """The events on a clock ``delta_ms`` later (ms; the stream started ``delta_ms`` after the
    recording: offsets become relative to the stream's start). Turns that ended before the new
    zero are dropped, a turn under way at it starts at 0."""
    shifted = []
    for event in events:
        ms = max(0, offset_ms(event) - delta_ms)
        shifted.append({**event, "offset": {"seconds": ms // 1000, "nanos": ms % 1000 * 1_000_000}})
    result, pending = [], {}
    for event in shifted:
        key = event["user"]["id"]
        if event["type"] == STARTED:
            pending[key] = event
        elif key in pending:
            start = pending.pop(key)
            if offset_ms(event) > offset_ms(start):
                result.extend((start, event))
    return result


def turns(events):
    """``[(start_ms, end_ms, user)]``: each started/stopped pair of :func:`convert`'s events."""
    found, open_turns = [], {}
    for event in events:
        key = event["user"]["id"]
        if event["type"] == STARTED:
            open_turns[key] = event
        elif key in open_turns:
            start = open_turns.pop(key)
            found.append((offset_ms(start), offset_ms(event), event["user"]))
    return sorted(found, key=lambda turn: turn[0])


def speaker_for(start_ms, end_ms, spoken):
    """The ``user`` of ``spoken`` (:func:`turns`) who spoke longest between ``start_ms`` and
    ``end_ms`` (ms), or the nearest turn's for an utterance no turn overlaps; None without turns."""
    best, best_overlap = None, 0
    for turn_start, turn_end, user in spoken:
        overlap = min(end_ms, turn_end) - max(start_ms, turn_start)
        if overlap > best_overlap:
            best, best_overlap = user, overlap
    if best is None and spoken:
        middle = (start_ms + end_ms) / 2
        best = min(spoken, key=lambda t: 0 if t[0] <= middle <= t[1] else min(abs(t[0] - middle),
                                                                                abs(t[1] - middle)))[2]
    return best
