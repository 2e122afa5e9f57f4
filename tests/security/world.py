"""The objects the security tests request URLs about: Acme's meeting with a speaker, an action item
and a recording; an API token for everyone; an invitation; configured provider accounts."""
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.core.files.base import ContentFile
from django.urls import reverse

from .access_table import ADMIN_LOGIN, LOGIN, OK
from .credentials import CONFIG, SECRETS, meetstream_signature, twilio_signature, zoom_signature

from tests.conftest import home_workspace, new_meeting

# The Acme meeting's title: a page served to bob (Globex) must never contain it.
ACME_MARK = "Acme board plan Zebra-4471"


@dataclass
class World:
    workspace: object
    meeting: object
    speaker: object
    insight: object
    invitation: object
    invitation_token: str
    users: dict  # persona → user (no "anonymous")
    bot: object = None  # a bot in its meeting, for the bots: URLs
    tokens: dict = field(default_factory=dict)  # persona → raw API token


def build(workspace, alice, bob, charlie, dana, root=None):
    from meetings.models import ApiToken, Bot, Insight, Invitation, Meeting, Speaker

    meeting = new_meeting(alice, title=ACME_MARK, engine="local", source=Meeting.Source.MICROPHONE,
                          status=Meeting.Status.LIVE)
    # A few bytes of a WAV header are enough for the recording view to serve something.
    meeting.recording.save("matrix.wav", ContentFile(b"RIFF\x24\x00\x00\x00WAVEfmt "), save=True)
    speaker = Speaker.objects.create(meeting=meeting, key="spk-1", name="Ann")
    insight = Insight.objects.create(meeting=meeting, type=Insight.Type.ACTION_ITEM, text="Send the budget",
                                     provider_id="matrix-1")
    invitation, invitation_token = Invitation.issue(workspace, "erin@example.com", "member", charlie)
    users = {"bob": bob, "dana": dana, "alice": alice, "charlie": charlie}
    if root is not None:
        users["root"] = root
    bot_meeting = new_meeting(alice, title=ACME_MARK, source=Meeting.Source.BOT, status=Meeting.Status.LIVE)
    bot = Bot.objects.create(meeting=bot_meeting, meeting_url="https://meet.google.com/abc-defg-hij",
                             platform="google_meet", status="in_meeting", vendor_bot_id="matrix-bot")
    world = World(workspace, meeting, speaker, insight, invitation, invitation_token, users, bot)
    for persona, user in users.items():
        ws = home_workspace(user)
        if ws is not None:
            world.tokens[persona] = ApiToken.issue(user, ws, f"{persona}'s matrix token")[1]
    return world


def path_values(world, entry):
    """Values for every path parameter a URL of this project may take."""
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType

    from meetings.models import ApiToken, Membership

    alice = world.users["alice"]
    values = {
        "meeting_id": world.meeting.pk,
        "speaker_id": world.speaker.pk,
        "insight_id": world.insight.pk,
        "token_id": ApiToken.objects.filter(user=alice).first().pk,
        "fmt": "txt",
        "membership_id": Membership.objects.get(user=alice, workspace=world.workspace).pk,
        "invitation_id": world.invitation.pk,
        "token": world.invitation_token,
        "uidb64": "MQ",
        "id": alice.pk,
        "app_label": "meetings",
        # The admin's catch-all: a known page without its slash, which staff are redirected to.
        "url": "meetings/meeting",
        "provider": "zoom",
        "content_type_id": ContentType.objects.get_for_model(world.meeting).pk,
        "object_id": world.meeting.pk,
        "bot_token": world.bot.callback_token,
    }
    if entry.key.startswith("bots:"):
        values["meeting_id"] = world.bot.meeting_id
    # An admin page of a model gets one of that model's objects, when there is one.
    parts = entry.route.split("/")
    if entry.key.startswith("admin:") and len(parts) > 3 and parts[0] == "admin" and "<" not in parts[1]:
        try:
            model = apps.get_model(parts[1], parts[2])
        except LookupError:
            model = None
        if model is not None:
            first = model.objects.order_by("pk").first()
            values["object_id"] = first.pk if first is not None else 1
    return values


def outcome(response):
    """What a response amounts to, in the vocabulary of ``access_table.EXPECT``."""
    if response.status_code in (301, 302, 303, 307, 308):
        location = response["Location"]
        if location.startswith(reverse("login") + "?next="):
            return LOGIN
        if location.startswith(reverse("admin:login")):
            return ADMIN_LOGIN
        return OK
    if response.status_code in (401, 403, 404, 405):
        return response.status_code
    assert response.status_code < 500, response
    return OK


def signed_post(client, entry, url):
    """POST a minimal, correctly signed callback to ``url`` (a provider's callback URL)."""
    if entry.key == "streaming:zoom_webhook":
        payload = {"account_id": CONFIG["zoom"]["account_id"], "object": {"id": "85746065432"}}
        body, ts = json.dumps({"event": "meeting.started", "payload": payload}).encode(), int(time.time())
        return client.post(url, body, content_type="application/json", headers={
            "x-zm-request-timestamp": str(ts),
            "x-zm-signature": zoom_signature(SECRETS["zoom"]["webhook_secret_token"], ts, body)})
    if entry.key == "telephony:twilio-voice":
        params = {"CallSid": "CA" + "2" * 32, "CallStatus": "ringing", "AccountSid": CONFIG["twilio"]["account_sid"]}
        signature = twilio_signature(SECRETS["twilio"]["auth_token"], "http://testserver" + url, params)
        return client.post(url, urlencode(params), content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature})
    if entry.key.startswith("bots:"):
        body = json.dumps({"event": "bot.joining", "bot_id": "b-1"}).encode()
        signature = meetstream_signature(SECRETS["meetstream"]["webhook_secret"], body)
        return client.post(url, body, content_type="application/json", headers={"X-MeetStream-Signature": signature})
    raise AssertionError(f"add a signer for {entry.key} to signed_post() in tests/security/world.py")
