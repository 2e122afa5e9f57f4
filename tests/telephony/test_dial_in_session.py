"""A dial-in session against the Symbl emulator's Telephony API: Symbl dials, Parley relays the
conversation, pushes "now speaking" events, hangs up and keeps Symbl's summary links."""
import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.test import Client

from meetings.models import Meeting, Utterance
from meetings.sessions import request_stop
from streaming.models import SymblSession
from streaming.runners import claim, run_session
from telephony.dialin.sessions import start_dial_in
from telephony.models import DialIn
from tests.streaming.symbl_fixtures import symbl, symbl_account  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def dial(owner, workspace, **fields):
    data = {"endpoint_type": "pstn", "phone_number": "+16465588656", "sip_uri": "", "dtmf": ",,93929300#,,123456#",
            "timezone": "America/Los_Angeles", "title": "Weekly sync", "language": "en-US",
            "summary_emails": ["ana@example.com"], "symbl_summary_email": True, **fields}
    return start_dial_in(owner, workspace, data)


async def wait_for(predicate, timeout=30):
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_a_dial_in_relays_the_call_pushes_speaker_events_and_hangs_up(symbl, symbl_account, alice, workspace):
    meeting = await database_sync_to_async(dial)(alice, workspace)
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    session = asyncio.create_task(run_session(meeting.pk, "test-runner"))

    first_final = database_sync_to_async(lambda: Utterance.objects.filter(meeting=meeting).exists())
    await wait_for(first_final)
    started = symbl.endpoint_requests[0]
    assert started["operation"] == "start"
    assert started["endpoint"] == {"type": "pstn", "phoneNumber": "16465588656", "dtmf": ",,93929300#,,123456#"}
    assert started["actions"] == [{"invokeOn": "stop", "name": "sendSummaryEmail",
                                   "parameters": {"emails": ["ana@example.com"]}}]
    assert started["timezone"] == "America/Los_Angeles" and started["data"] == {"session": {"name": "Weekly sync"}}
    dial_in = await database_sync_to_async(DialIn.objects.get)(meeting=meeting)
    connection = symbl.connections[dial_in.connection_id]
    assert dial_in.conversation_id == connection.conversation.id
    assert dial_in.event_url.endswith(f"/v1/event/{dial_in.connection_id}")
    symbl_ids = await database_sync_to_async(SymblSession.objects.get)(meeting=meeting)
    assert (symbl_ids.connection_id, symbl_ids.conversation_id) == (dial_in.connection_id, dial_in.conversation_id)
    assert (await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)).status == "live"

    # "Now speaking" from the call's page goes to the call's eventUrl.
    browser = Client()
    await database_sync_to_async(browser.force_login)(alice)
    pushed = await sync_to_async(browser.post, thread_sensitive=False)(
        f"/telephony/dial-in/{meeting.pk}/speaker", {"participant": "Nagg", "event": "started_speaking"},
        HTTP_ACCEPT="application/json")
    assert pushed.status_code == 200, pushed.content
    [event] = symbl.speaker_events[dial_in.connection_id]
    assert event["topic"] == "speaker" and event["type"] == "started_speaking"
    assert event["user"] == {"userId": "Nagg", "name": "Nagg"} and event["timestamp"].endswith("Z")

    await database_sync_to_async(request_stop)(meeting)
    await asyncio.wait_for(session, 30)
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "completed", meeting.failure_reason
    assert symbl.endpoint_requests[-1] == {"operation": "stop", "connectionId": dial_in.connection_id}
    dial_in = await database_sync_to_async(DialIn.objects.get)(meeting=meeting)
    assert dial_in.summary_urls and dial_in.summary_urls[0]["url"].endswith(f"/meeting/#/{dial_in.conversation_id}")
    texts = await database_sync_to_async(lambda: [u.text for u in meeting.utterances.all()])()
    assert texts and texts[0] == symbl.script[0].text


async def test_a_number_symbl_refuses_fails_the_session_with_symbls_reason(symbl, symbl_account, alice, workspace):
    # Symbl's Telephony API takes 7 to 15 digits; a number this long passes nowhere.
    meeting = await database_sync_to_async(dial)(alice, workspace, phone_number="+1234567890123456", dtmf="")
    assert await database_sync_to_async(claim)(meeting.pk, "test-runner")
    await run_session(meeting.pk, "test-runner")
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=meeting.pk)
    assert meeting.status == "failed"
    assert meeting.failure_reason.startswith("Symbl could not dial +1234567890123456: ")
    assert "Bad Request! Please refer docs for correct input fields." in meeting.failure_reason


async def test_the_speaker_action_refuses_a_call_not_in_progress(symbl, symbl_account, alice, workspace):
    meeting = await database_sync_to_async(dial)(alice, workspace)
    browser = Client()
    await database_sync_to_async(browser.force_login)(alice)
    response = await sync_to_async(browser.post, thread_sensitive=False)(
        f"/telephony/dial-in/{meeting.pk}/speaker", {"participant": "Nagg"})
    assert response.status_code == 409 and response.json() == {"error": "The call is not in progress."}
