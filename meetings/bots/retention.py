"""What the bot vendor keeps of a meeting, for retention (``meetings.retention``'s registry).

A bot's vendor keeps its recording and transcript until its own retention runs out; when Parley
deletes the meeting, retention deletes those copies too (MeetStream: ``DELETE
/bots/{bot_id}/delete``, then a ``data_deletion`` callback).
"""
from meetings.models import Bot


def bot_copies(meeting):
    """``[(provider, vendor bot id)]`` of ``meeting``'s bot, when the vendor created one."""
    return [(vendor, bot_id) for vendor, bot_id in
            Bot.objects.filter(meeting=meeting).exclude(vendor_bot_id="").values_list("vendor", "vendor_bot_id")]
