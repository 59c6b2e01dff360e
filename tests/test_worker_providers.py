"""Each provider beyond OpenAI and Deepgram, through LiveKit's own plugin and the
worker's plugin maker, against a fake of its API on loopback (tests/provider_fakes.py):
a flow's block (model, voice, language, options, key) becomes the plugin object, the
plugin speaks the provider's real protocol, and the fake's answers come back as the
exact text, tool call or number of audio frames it sent. Last, a whole call through the
worker's entrypoint: Claude picks the edges, ElevenLabs and then Cartesia speak."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from conftest import ROOT
from livekit import rtc
from livekit.agents import ChatContext, function_tool, llm, stt, tts, utils
from livekit.agents.testing import fake_job_context
from livekit.plugins import anthropic, assemblyai, cartesia, elevenlabs, groq
from openai_fake import FakeOpenAI
from provider_fakes import (
    FRAME_MS,
    FakeAnthropic,
    FakeAssemblyAI,
    FakeCartesia,
    FakeElevenLabs,
    pcm,
)
from workerkit import services, until

from flowctl.engine.library import FileLibrary
from flowctl.engine.providers import PROVIDERS
from flowctl.engine.runtime import Fired
from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig
from flowctl.worker.call import Call
from flowctl.worker.fakes import FakeRoom, ScriptedSTT, read_wav, silence
from flowctl.worker.makers import MAKERS
from flowctl.worker.server import serve
from flowctl.worker.session import Keys, Plugins, check_providers, load_vads

SPEECH = ROOT / "tests" / "data"

KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "GROQ_API_KEY": "gsk-test",
    "ELEVEN_API_KEY": "el-test",
    "CARTESIA_API_KEY": "ca-test",
    "ASSEMBLYAI_API_KEY": "aai-test",
}


@pytest.fixture
async def http() -> AsyncIterator[None]:
    """The aiohttp session LiveKit's plugins share in a job (a job makes one)."""
    async with utils.http_context.open():
        yield


ASKED = "A table for two on Friday, please."


def _chat() -> ChatContext:
    chat = ChatContext()
    chat.add_message(role="system", content="You book tables at Luigi's.")
    chat.add_message(role="user", content=ASKED)
    return chat


async def _reply(model: llm.LLM[Any], tools: list[Any] | None = None) -> tuple[str, list[Any]]:
    """What a model said in one turn, and the functions it called."""
    text, calls = [], []
    async with model.chat(chat_ctx=_chat(), tools=tools or []) as stream:
        async for chunk in stream:
            if chunk.delta is None:
                continue
            text.append(chunk.delta.content or "")
            calls += chunk.delta.tool_calls
    return "".join(text), calls


@function_tool
async def book_table(day: str, party_size: int) -> str:
    """Book a table."""
    return "booked"


async def _speak(voice: tts.TTS[Any], sentences: list[str]) -> list[rtc.AudioFrame]:
    """The frames a voice streams for ``sentences``, pushed as a model's words are."""
    frames = []
    async with voice.stream() as stream:
        for sentence in sentences:
            stream.push_text(sentence + " ")
        stream.end_input()
        async for audio in stream:
            frames.append(audio.frame)
    return frames


def _chunks(frames: list[rtc.AudioFrame], sample_rate: int) -> float:
    """How many of the fake's ``FRAME_MS`` chunks of audio ``frames`` hold (LiveKit
    cuts what a provider sends into frames of its own)."""
    assert {(f.sample_rate, f.num_channels) for f in frames} == {(sample_rate, 1)}
    return sum(f.samples_per_channel for f in frames) / (sample_rate * FRAME_MS // 1000)


def test_the_worker_makes_every_provider_lint_accepts() -> None:
    assert {block: list(made) for block, made in MAKERS.items()} == {
        block: list(providers) for block, providers in PROVIDERS.items()
    }


# --- Anthropic ---------------------------------------------------------------------


async def test_anthropic_streams_the_models_words_with_the_flows_settings() -> None:
    async with FakeAnthropic({ASKED: [{"say": "Friday at eight works."}]}) as api:
        config = LLMConfig(
            provider="anthropic",
            model="claude-haiku-4-5",
            temperature=0.2,
            max_tokens=300,
            base_url=api.url,
            options={"top_k": 5, "caching": "ephemeral"},
        )
        plugins = Plugins(env=KEYS)
        model = plugins.llm(config)
        assert isinstance(model, anthropic.LLM)
        text, calls = await _reply(model)
        await model.aclose()
        await plugins.aclose()  # the process's Anthropic client
    assert (text, calls) == ("Friday at eight works.", [])
    [request] = api.requests
    assert request["headers"]["X-Api-Key"] == "sk-ant-test"
    body = request["body"]
    assert (body["model"], body["max_tokens"], body["stream"]) == ("claude-haiku-4-5", 300, True)
    assert (body["temperature"], body["top_k"]) == (0.2, 5)
    assert body["messages"][-1]["content"][0]["text"] == "A table for two on Friday, please."
    # `caching`: the system prompt is marked for Anthropic's prompt cache
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}


async def test_anthropic_calls_a_function_with_its_arguments() -> None:
    booking = {"call": "book_table", "args": {"day": "Friday", "party_size": 2}}
    async with FakeAnthropic({ASKED: [booking]}) as api:
        plugins = Plugins(env=KEYS)
        model = plugins.llm(LLMConfig(provider="anthropic", base_url=api.url))
        text, calls = await _reply(model, [book_table])
        await model.aclose()
        await plugins.aclose()
    assert text == ""
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("book_table", {"day": "Friday", "party_size": 2})
    ]
    [request] = api.requests
    assert [t["name"] for t in request["body"]["tools"]] == ["book_table"]


# --- Groq --------------------------------------------------------------------------


async def test_groq_answers_through_its_openai_compatible_endpoint() -> None:
    with FakeOpenAI({ASKED: [{"say": "Friday it is."}]}) as api:
        config = LLMConfig(
            provider="groq",
            model="llama-3.3-70b-versatile",
            base_url=api.url,
            options={"top_p": 0.9, "parallel_tool_calls": False},
        )
        plugins = Plugins(env=KEYS)
        model = plugins.llm(config)
        assert isinstance(model, groq.LLM)
        text, calls = await _reply(model)
        await model.aclose()
        await plugins.aclose()
    assert (text, calls) == ("Friday it is.", [])
    [body] = api.requests
    assert (body["model"], body["top_p"]) == ("llama-3.3-70b-versatile", 0.9)


# --- ElevenLabs --------------------------------------------------------------------


async def test_elevenlabs_streams_a_few_frames_per_sentence_over_its_websocket(http: None) -> None:
    async with FakeElevenLabs(sample_rate=16000, frames=4) as api:
        config = TTSConfig(
            provider="elevenlabs",
            model="eleven_flash_v2_5",
            voice="21m00Tcm4TlvDq8ikWAM",
            language="en",
            base_url=api.url,
            options={
                "encoding": "pcm_16000",
                "voice_settings": {"stability": 0.6, "similarity_boost": 0.8, "speed": 1.1},
                "auto_mode": True,
            },
        )
        voice = Plugins(env=KEYS).tts(config)
        assert isinstance(voice, elevenlabs.TTS)
        frames = await _speak(voice, ["Your table is booked.", "See you on Friday."])
        await voice.aclose()
    assert _chunks(frames, 16000) == 2 * 4  # four chunks for each sentence
    [socket] = api.requests
    assert socket["path"] == "/text-to-speech/21m00Tcm4TlvDq8ikWAM/multi-stream-input"
    assert socket["key"] == "el-test"
    query = socket["query"]
    assert (query["model_id"], query["output_format"], query["language_code"]) == (
        "eleven_flash_v2_5",
        "pcm_16000",
        "en",
    )
    first = socket["messages"][0]
    assert first["voice_settings"] == {"stability": 0.6, "similarity_boost": 0.8, "speed": 1.1}
    said = [m["text"] for m in socket["messages"][1:] if m.get("text", "").strip()]
    assert said == ["Your table is booked. ", "See you on Friday. "]


async def test_elevenlabs_synthesizes_one_text_over_http(http: None) -> None:
    async with FakeElevenLabs(sample_rate=24000, frames=5) as api:
        config = TTSConfig(
            provider="elevenlabs",
            voice="voice-1",
            base_url=api.url,
            options={"encoding": "pcm_24000", "enable_logging": False},
        )
        voice = Plugins(env=KEYS).tts(config)
        frames = [audio.frame async for audio in voice.synthesize("Goodbye!")]
        await voice.aclose()
    # the five chunks sent, then the 10 ms of silence LiveKit marks a segment's end with
    # when all its audio has gone out already
    assert _chunks(frames, 24000) == 5 + 1
    [request] = api.requests
    assert request["path"] == "/text-to-speech/voice-1/stream"
    assert request["query"] == {"output_format": "pcm_24000", "enable_logging": "false"}
    assert request["body"]["text"] == "Goodbye!"


# --- Cartesia ----------------------------------------------------------------------


async def test_cartesia_streams_a_few_frames_per_sentence_over_its_websocket(http: None) -> None:
    async with FakeCartesia(frames=3) as api:
        config = TTSConfig(
            provider="cartesia",
            model="sonic-3",
            voice="a0e99841-438c-4a64-b679-ae501e7d6091",
            language="en",
            speed=1.2,
            base_url=api.url,
            options={"sample_rate": 16000, "emotion": "calm", "volume": 1.5},
        )
        voice = Plugins(env=KEYS).tts(config)
        assert isinstance(voice, cartesia.TTS)
        frames = await _speak(voice, ["Your table is booked.", "See you on Friday."])
        await voice.aclose()
    assert _chunks(frames, 16000) == 2 * 3  # three chunks for each sentence
    [socket] = api.requests
    assert socket["key"] == "ca-test"
    first = socket["messages"][0]
    assert first["model_id"] == "sonic-3"
    assert first["voice"] == {"mode": "id", "id": "a0e99841-438c-4a64-b679-ae501e7d6091"}
    assert first["output_format"]["sample_rate"] == 16000
    assert first["generation_config"] == {"speed": 1.2, "emotion": "calm", "volume": 1.5}
    said = [m["transcript"] for m in socket["messages"] if m["transcript"].strip()]
    assert said == ["Your table is booked. ", "See you on Friday. "]


# --- AssemblyAI --------------------------------------------------------------------


async def test_assemblyai_hears_a_second_of_audio_as_one_final_transcript(http: None) -> None:
    async with FakeAssemblyAI("A table for two on Friday") as api:
        config = STTConfig(
            provider="assemblyai",
            language="en",
            base_url=api.url.replace("http://", "ws://"),
            options={"end_of_turn_confidence_threshold": 0.5, "keyterms_prompt": ["Luigi"]},
        )
        ears = Plugins(env=KEYS).stt(config)
        assert isinstance(ears, assemblyai.STT)
        finals = []
        async with ears.stream() as stream:
            for _ in range(100):  # 1 s in 10 ms frames
                data = pcm(16000, 1)
                stream.push_frame(rtc.AudioFrame(data, 16000, 1, len(data) // 2))
            stream.end_input()
            async for event in stream:
                if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                    finals.append(event.alternatives[0].text)
        await ears.aclose()
    assert finals == ["A table for two on Friday"]
    assert api.received == 2 * 16000
    [socket] = api.requests
    assert socket["key"] == "aai-test"
    assert socket["query"]["end_of_turn_confidence_threshold"] == "0.5"
    assert json.loads(socket["query"]["keyterms_prompt"]) == ["Luigi"]
    assert socket["messages"] == [{"type": "Terminate"}]


# --- a call through all of them ------------------------------------------------------


class _Ears(Plugins):
    """The real plugins, but a scripted STT: the caller's words are the test's."""

    def __init__(self, env: dict[str, str], ears: ScriptedSTT) -> None:
        super().__init__(env=env)
        self.ears = ears

    def stt(self, config: STTConfig, keys: Keys | None = None) -> stt.STT[Any]:
        return self.ears


def _bistro(claude: str, eleven: str, sonic: str) -> dict[str, Any]:
    """A two-voice desk: Claude answers, ElevenLabs speaks at the front desk, Cartesia
    for the sommelier, each at its fake's ``base_url``."""
    hang_up = {
        "name": "hang_up",
        "description": "Call when the caller says goodbye: it ends the call.",
        "action": "action",
        "tool": "end_call",
    }
    return {
        "customer_id": "bistro",
        "flow_id": "desk",
        "llm": {"provider": "anthropic", "model": "claude-haiku-4-5", "base_url": claude},
        "stt": {"provider": "assemblyai"},
        "tts": {
            "provider": "elevenlabs",
            "voice": "front-desk-voice",
            "base_url": eleven,
            "options": {"encoding": "pcm_24000"},
        },
        "vad": {"min_silence_duration": 0.3, "max_endpointing_delay": 0.5},
        "global_edges": [hang_up],
        "agents": [
            {
                "name": "FrontDesk",
                "instructions": "You answer the phone at a bistro. Wine questions go to the sommelier.",
                "on_enter_prompt": "Hello, this is the bistro.",
                "edges": [
                    {
                        "name": "to_sommelier",
                        "description": "Call when the caller asks about wine.",
                        "target_agent": "Sommelier",
                    }
                ],
            },
            {
                "name": "Sommelier",
                "instructions": "You are the sommelier. Answer briefly.",
                "on_enter_prompt": "Sommelier speaking.",
                "ends_on_hangup": True,
                "tts": {
                    "provider": "cartesia",
                    "voice": "sommelier-voice",
                    "base_url": sonic,
                    "options": {"sample_rate": 24000},
                },
            },
        ],
    }


async def test_a_call_hears_claude_and_speaks_with_elevenlabs_then_cartesia(
    tmp_path: Path, http: None
) -> None:
    asked, done = "Can I ask about the wine list?", "That's all, thank you."
    replies = {asked: [{"call": "to_sommelier"}], done: [{"call": "hang_up"}]}
    async with (
        FakeAnthropic(replies) as claude,
        FakeElevenLabs(sample_rate=24000, frames=4) as eleven,
        FakeCartesia(frames=3) as sonic,
    ):
        (tmp_path / "desk.json").write_text(json.dumps(_bistro(claude.url, eleven.url, sonic.url)))
        (tmp_path / "tenants").mkdir()
        tenant = {"tenant_id": "bistro", "flows": ["desk"], "default": "desk"}
        (tmp_path / "tenants" / "bistro.json").write_text(json.dumps(tenant))
        library = FileLibrary.load(tmp_path)
        assert check_providers(library.served(), {**KEYS}) == []
        ears = ScriptedSTT([asked, done])
        plugins = _Ears(KEYS, ears)
        room = FakeRoom()
        vads = load_vads(s.compiled.flow.vad for s in library.served())  # type: ignore[misc]
        metadata = json.dumps({"tenant_id": "bistro"})
        with fake_job_context(job_id="job-bistro", job_metadata=metadata) as ctx:
            call = await serve(ctx, services(library, vads, room, plugins))  # type: ignore[arg-type]
            assert isinstance(call, Call)
            session, conv = call.session, call.conversation
            assert session is not None
            await until(
                session, lambda: session.agent_state == "listening" and room.speaker.segments
            )

            room.mic.push(read_wav(SPEECH / "speech_1.wav"))
            room.mic.push(silence(1.0))
            await until(
                session,
                lambda: len(room.speaker.segments) == 2 and session.agent_state == "listening",
            )
            assert conv.state == "Sommelier"

            room.mic.push(read_wav(SPEECH / "speech_2.wav"))
            room.mic.push(silence(1.0))
            await asyncio.wait_for(call.finished.wait(), 10)
        await plugins.aclose()

    assert [(e.edge, e.source, e.target) for e in conv.history if isinstance(e, Fired)] == [
        ("to_sommelier", "FrontDesk", "Sommelier"),
        ("hang_up", "Sommelier", None),
    ]
    assert room.shutdowns == ["flowctl: hung up"]
    # Each greeting in its own voice, played whole: the four 10 ms chunks ElevenLabs
    # sent, then the three Cartesia sent.
    assert room.speaker.segments == pytest.approx([0.04, 0.03])
    [front] = eleven.requests
    assert front["path"] == "/text-to-speech/front-desk-voice/multi-stream-input"
    assert [m["text"] for m in front["messages"] if m.get("text", "").strip()] == [
        "Hello, this is the bistro. "
    ]
    [sommelier] = sonic.requests
    assert [m["transcript"] for m in sommelier["messages"] if m["transcript"].strip()] == [
        "Sommelier speaking. "
    ]
    # Claude heard each utterance, offered the functions of the state it was in, and
    # was told the call had ended (with nothing left to call).
    offered = [sorted(t["name"] for t in r["body"].get("tools", [])) for r in claude.requests]
    assert offered == [["hang_up", "to_sommelier"], ["hang_up"], []]
    last = [r["body"]["messages"][-1]["content"][0] for r in claude.requests]
    assert [b.get("text") or b["content"] for b in last] == [asked, done, '{"ended":true}']
