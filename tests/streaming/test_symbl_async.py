"""A runner taking over an upload on the Async API resumes polling the job its predecessor saved;
it sends the recording again only when there is no saved job, or Symbl failed or forgot it."""
import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from meetings.models import Meeting, Utterance
from streaming.models import SymblSession
from streaming.runners import claim, run_session
from tests.fakes.symbl import load_script
from tests.streaming.helpers import make_meeting
from tests.streaming.symbl_fixtures import symbl, symbl_account  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

ENDGAME = load_script()
SUBMIT = ("POST", "/v1/process/audio")


@pytest.fixture(autouse=True)
def account(symbl_account):
    """Every test here runs with alice's workspace's Symbl account set to the emulator's app."""
    return symbl_account


@pytest.fixture
def held_jobs(symbl):
    """Jobs the emulator accepts but does not process until ``release`` is set; a job the test
    marked failed or removed meanwhile stays so."""
    release = asyncio.Event()
    process = symbl._process

    async def held(job_id, conversation, seconds, diarize):
        symbl.jobs[job_id]["status"] = "in_progress"
        await release.wait()
        if symbl.jobs.get(job_id, {}).get("status") == "in_progress":
            await process(job_id, conversation, seconds, diarize)

    symbl._process = held
    yield release
    release.set()


async def upload(alice, data_dir):
    return await make_meeting(alice, source="upload", recording=data_dir / "audio" / "endgame_nagg_nell.flac",
                              engine="symbl", title="Endgame", realtime=False)


@database_sync_to_async
def saved_job(meeting):
    return SymblSession.objects.filter(meeting=meeting).values_list("job_id", "conversation_id").first() or ("", "")


async def runner_dies_while_polling(meeting, symbl):
    """Run the session on runner-1 until Symbl accepted the recording and its job id is saved, then
    kill that runner (its task cancelled, its lease left to expire), as a crashed worker would."""
    assert await database_sync_to_async(claim)(meeting.pk, "runner-1")
    first = asyncio.create_task(run_session(meeting.pk, "runner-1"))

    async def polling_saved_job():
        while not (await saved_job(meeting))[0] or not any(p.startswith("/v1/job/") for _, p, _ in symbl.requests):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(polling_saved_job(), timeout=60)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await database_sync_to_async(Meeting.objects.filter(pk=meeting.pk).update)(lease_expires_at=timezone.now())
    return await saved_job(meeting)


async def take_over(meeting):
    assert await database_sync_to_async(claim)(meeting.pk, "runner-2")
    await run_session(meeting.pk, "runner-2")


@database_sync_to_async
def outcome(meeting):
    meeting = Meeting.objects.get(pk=meeting.pk)
    texts = list(Utterance.objects.filter(meeting=meeting).order_by("start_ms")
                 .values_list("text", flat=True))
    types = list(meeting.events.values_list("type", flat=True))
    return meeting, texts, types


async def test_a_runner_taking_over_resumes_the_saved_job_without_resubmitting(symbl, alice, data_dir, held_jobs):
    meeting = await upload(alice, data_dir)
    job_id, conversation_id = await runner_dies_while_polling(meeting, symbl)
    assert symbl.jobs[job_id]["status"] == "in_progress"
    polled = len([r for r in symbl.requests if r[1] == f"/v1/job/{job_id}"])
    held_jobs.set()
    await take_over(meeting)

    meeting, texts, types = await outcome(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert [r[:2] for r in symbl.requests].count(SUBMIT) == 1
    assert len([r for r in symbl.requests if r[1] == f"/v1/job/{job_id}"]) > polled  # runner-2 polled it
    assert await saved_job(meeting) == (job_id, conversation_id)
    assert texts == [line.text for line in ENDGAME]
    assert types.count("message_response") == len(ENDGAME)
    assert types.count("conversation_created") == 1 and types.count("conversation_completed") == 1


@pytest.mark.parametrize("fate", ["failed", "forgotten"])
async def test_a_saved_job_that_failed_or_symbl_forgot_is_submitted_again(symbl, alice, data_dir, held_jobs, fate):
    meeting = await upload(alice, data_dir)
    job_id, _ = await runner_dies_while_polling(meeting, symbl)
    if fate == "failed":
        symbl.jobs[job_id]["status"] = "failed"
    else:
        del symbl.jobs[job_id]  # GET /v1/job/{id} answers 404
    held_jobs.set()
    await take_over(meeting)

    meeting, texts, _ = await outcome(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert [r[:2] for r in symbl.requests].count(SUBMIT) == 2
    new_job, new_conversation = await saved_job(meeting)
    assert new_job != job_id and symbl.jobs[new_job]["status"] == "completed"
    assert new_conversation in symbl.conversations
    assert texts == [line.text for line in ENDGAME]


async def test_a_fresh_upload_submits_the_recording_once(symbl, alice, data_dir):
    meeting = await upload(alice, data_dir)
    assert await database_sync_to_async(claim)(meeting.pk, "runner-1")
    await run_session(meeting.pk, "runner-1")
    meeting, texts, _ = await outcome(meeting)
    assert meeting.status == "completed", meeting.failure_reason
    assert [r[:2] for r in symbl.requests].count(SUBMIT) == 1
    assert texts == [line.text for line in ENDGAME]


async def test_a_wrong_app_secret_fails_an_upload_with_the_reason_on_its_page(symbl, alice, data_dir, symbl_account):
    symbl_account.set_secrets({"app_secret": "not-the-secret"})
    await database_sync_to_async(symbl_account.save)()
    meeting = await upload(alice, data_dir)
    assert await database_sync_to_async(claim)(meeting.pk, "runner-1")
    await run_session(meeting.pk, "runner-1")

    meeting, texts, _ = await outcome(meeting)
    assert meeting.status == "failed" and not texts
    assert meeting.failure_reason.startswith("Symbl rejected this workspace's app id or secret: Unauthorized.")
    # One refused token request, nothing retried, no recording sent.
    assert [r for r in symbl.requests] == [("POST", "/oauth2/token:generate", 401)]

    @database_sync_to_async
    def page():
        browser = Client()
        browser.force_login(alice)
        return browser.get(reverse("meetings:live", args=[meeting.pk]))

    response = await page()
    assert response.status_code == 200
    assert "Symbl rejected this workspace&#x27;s app id or secret" in response.content.decode()
