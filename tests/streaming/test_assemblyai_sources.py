"""Other sources on the assemblyai engine: a meeting bot's live audio (MeetStream frames of the real
Endgame recording, each naming its speaker) goes through the bot source to Universal-Streaming, and
every utterance is attributed to the participant who said it."""
import pytest

from tests.streaming.test_assemblyai_engine import assemblyai, assemblyai_account  # noqa: F401 (fixtures)
from tests.streaming.test_deepgram_sources import bot_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("assemblyai_account")
async def test_a_bots_live_audio_on_assemblyai_is_attributed_to_each_speaker(
        assemblyai, alice, workspace, settings):
    # AssemblyAI's turns lag the audio: at each change of speaker the engine ends the turn in
    # progress (ForceEndpoint, and its turn) before the next speaker's audio goes out.
    assemblyai.latency_ms = 10_000
    meeting, said, lines = await bot_session(alice, workspace, settings, "assemblyai")
    assert meeting.status == "completed", meeting.failure_reason
    assert said == {"Nagg": ["do", "you", "hear", "me"] * 2, "Nell": ["yes", "yes"]}, lines
    assert {"type": "ForceEndpoint"} in assemblyai.sessions[0]["messages"]
