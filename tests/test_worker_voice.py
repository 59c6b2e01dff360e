"""The voice pipeline end to end, offline: a job's entrypoint starts a call whose
caller speaks real recorded speech (espeak-ng, tests/data/make_speech.py). Silero VAD
cuts the utterances out of the audio, a scripted STT transcribes each, the scripted
model answers, a silent TTS speaks. The call greets, hears two utterances, hands off
once (to a state with its own voice), answers in the state's structured output, and
ends the call; the frontend's text-stream messages are checked one by one."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("livekit.agents")

from conftest import ROOT
from livekit.agents.testing import fake_job_context
from workerkit import services, until

from flowctl.engine.library import FileLibrary
from flowctl.engine.runtime import Entered, Fired
from flowctl.worker.call import Call
from flowctl.worker.fakes import FakePlugins, FakeRoom, ScriptedSTT, Synthesis, read_wav, silence
from flowctl.worker.llm import Step
from flowctl.worker.publish import OUTPUT_TOPIC, STATE_TOPIC, SUMMARY_TOPIC
from flowctl.worker.server import serve
from flowctl.worker.session import load_vads

SPEECH = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def vads(desk: FileLibrary) -> dict:  # type: ignore[type-arg]
    return load_vads(s.compiled.flow.vad for s in desk.served())  # type: ignore[misc]


async def test_a_voice_call_greets_hears_two_utterances_hands_off_and_ends(
    desk: FileLibrary,
    vads: dict,  # type: ignore[type-arg]
) -> None:
    ears = ScriptedSTT(["Can I ask about my prescription?", "That's all, thank you."])
    plugins = FakePlugins(stt=ears)
    room = FakeRoom()
    metadata = json.dumps({"tenant_id": "acme", "user_id": "caller-7"})
    with fake_job_context(job_id="job-voice", job_metadata=metadata) as ctx:
        call = await serve(ctx, services(desk, vads, room, plugins))
        assert isinstance(call, Call)
        session, conv = call.session, call.conversation
        assert session is not None
        await until(session, lambda: session.agent_state == "listening" and plugins.spoken)

        # The caller asks about a prescription: the front desk hands off.
        plugins.model.plan([Step.call("to_pharmacist")])
        room.mic.push(read_wav(SPEECH / "speech_1.wav"))
        room.mic.push(silence(1.0))
        await until(
            session,
            lambda: len(plugins.spoken) == 2 and session.agent_state == "listening",
        )
        assert conv.state == "Pharmacist"

        # "That's all": the pharmacist ends the call, and says goodbye.
        answer = {
            "system_response": "You're welcome. Goodbye!",
            "topic": "prescription",
            "voice_instructions": "warm and unhurried",
        }
        plugins.model.plan([Step.call("hang_up"), Step.output(answer)])
        room.mic.push(read_wav(SPEECH / "speech_2.wav"))
        room.mic.push(silence(1.0))
        await asyncio.wait_for(call.finished.wait(), 10)

    # Silero found two utterances in the audio, the STT heard each once.
    assert len(ears.heard) == 2
    assert [(e.edge, e.source, e.target) for e in conv.history if isinstance(e, Fired)] == [
        ("to_pharmacist", "FrontDesk", "Pharmacist"),
        ("hang_up", "Pharmacist", None),
    ]
    assert [e.state for e in conv.history if isinstance(e, Entered)] == [
        "FrontDesk",
        "Pharmacist",
    ]
    assert conv.ended is not None and conv.ended.reason == "end_call"
    # Each state spoke with its own voice; the goodbye took the answer's instructions.
    assert plugins.spoken == [
        Synthesis("Hello, this is the pharmacy front desk.", "alloy", None),
        Synthesis("Pharmacist speaking.", "sage", None),
        Synthesis("You're welcome. Goodbye!", "sage", "warm and unhurried"),
    ]
    assert len(room.speaker.segments) == 3
    assert room.hung_up
    assert room.transfers == []
    assert room.shutdowns == ["flowctl: hung up"]
    assert call.outcome == "hung up"
    header = {"session_id": "job-voice", "tenant_id": "acme", "flow_id": "desk", "version": "1"}
    [summary] = room.messages.on(SUMMARY_TOPIC)
    assert room.messages.messages == [
        (STATE_TOPIC, {**header, "seq": 1, "event": "entered", "state": "FrontDesk", "via": None}),
        (
            STATE_TOPIC,
            {**header, "seq": 2, "event": "entered", "state": "Pharmacist", "via": "to_pharmacist"},
        ),
        (
            STATE_TOPIC,
            {
                **header,
                "seq": 3,
                "event": "ended",
                "state": "Pharmacist",
                "reason": "end_call",
                "detail": None,
            },
        ),
        (
            OUTPUT_TOPIC,
            {
                **header,
                "seq": 4,
                "state": "Pharmacist",
                "fields": {"system_response": "You're welcome. Goodbye!", "topic": "prescription"},
            },
        ),
        (SUMMARY_TOPIC, summary),
    ]
    # The summary, as the call ends: the hidden `voice_instructions` left out again.
    assert summary == {
        **header,
        "seq": 5,
        "summary": "FrontDesk -> Pharmacist; ended in Pharmacist (end_call)",
        "outcome": "end_call",
        "state": "Pharmacist",
        "path": ["FrontDesk", "Pharmacist"],
        "variables": {},
        "outputs": {
            "Pharmacist": {"system_response": "You're welcome. Goodbye!", "topic": "prescription"}
        },
        "tools_ok": 1,
        "tools_failed": 0,
        "turns": 5,  # two greetings, two utterances, the goodbye
        "seconds": summary["seconds"],  # the call's real duration
    }
    assert 0 < summary["seconds"] < 10
