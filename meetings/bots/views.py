"""The bot pages: the workspace's bots (scheduled ones with their time), a new bot, one bot, cancel."""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from meetings.access import VIEW, WRITE, can, get_meeting_or_404, visible_meetings, workspace_required
from meetings.links import public_origin
from meetings.models import Bot
from meetings.sessions import SessionError

from . import sessions
from .forms import BotForm


def _bot_or_404(request, meeting_id, *, write=False):
    meeting = get_meeting_or_404(request.user, meeting_id, write=write, workspace=request.workspace)
    try:
        return meeting.bot
    except Bot.DoesNotExist:
        raise Http404("This meeting has no bot.") from None


@workspace_required(VIEW)
def bot_list(request):
    meetings = visible_meetings(request.user, request.workspace).filter(source="bot")
    bots = list(Bot.objects.filter(meeting__in=meetings).select_related("meeting", "meeting__owner")[:200])
    # Scheduled: waiting for the task, or (embedded default, eager tasks) already handed to the
    # vendor with its join_at and not yet in the meeting.
    now = timezone.now()
    waiting = (Bot.Status.SCHEDULED, Bot.Status.CREATING, Bot.Status.CREATED)
    scheduled = sorted((b for b in bots if b.join_at and b.join_at > now and b.status in waiting),
                       key=lambda b: b.join_at)
    others = [b for b in bots if b not in scheduled]
    return render(request, "meetings/bots/list.html", {"scheduled": scheduled, "bots": others})


@workspace_required(WRITE)
def new(request):
    form = BotForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            bot = sessions.start_bot(request.user, request.workspace, form.bot_fields(),
                                     callback_base=public_origin(request), title=form.cleaned_data["title"])
        except SessionError as exc:
            form.add_error(None, str(exc))
        else:
            if bot.status == Bot.Status.SCHEDULED:
                messages.success(request, "The bot is scheduled.")
            return redirect("bots:detail", bot.meeting_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "meetings/bots/new.html", {"form": form}, status=status)


@workspace_required(VIEW)
def detail(request, meeting_id):
    bot = _bot_or_404(request, meeting_id)
    can_write = can(request.user, request.workspace, WRITE)
    history = list(bot.events.order_by("id")[:500])
    return render(request, "meetings/bots/detail.html", {
        "bot": bot, "meeting": bot.meeting, "history": history, "can_write": can_write})


@require_POST
@workspace_required(VIEW)
def cancel(request, meeting_id):
    bot = _bot_or_404(request, meeting_id, write=True)
    try:
        messages.success(request, sessions.cancel(bot))
    except SessionError as exc:
        messages.error(request, str(exc))
    return redirect("bots:detail", meeting_id)
