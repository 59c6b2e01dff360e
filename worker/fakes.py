"""Stand-ins at the provider edge, for voice sessions with no network and no room.

- :class:`ScriptedSTT` hears each utterance the VAD cuts out of the audio and returns
  the next line of its script (a batch STT: LiveKit pairs it with the session's VAD).
- :class:`SilentTTS` answers every text with silence as long as the words would take
  to say, and records what it was asked to say, in which voice, with which
  instructions.
- :class:`QueuedAudioInput` is the caller's microphone: frames a test pushes (a WAV
  file, silence) in the order pushed, as fast as they are pushed.
- :class:`CapturingAudioOutput` is the caller's speaker: it keeps every frame and
  reports each segment played out at once, so no test waits for real-time playback.
- :class:`FakePlugins` makes these instead of the providers' plugins (no keys, no
  network); :class:`FakeRoom` is a room with that microphone and speaker, a publisher
  that keeps every message, and a caller who may be on a phone line.

The language model stand-ins are in ``worker/llm.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import LanguageCode, stt, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions
from livekit.agents.voice import io

from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig
from flowctl.worker.llm import ScriptedLLM, StandIn
from flowctl.worker.publish import MemoryPublisher
from flowctl.worker.session import Keys, Plugins

__all__ = [
    "CapturingAudioOutput",
    "FakePlugins",
    "FakeRoom",
    "QueuedAudioInput",
    "ScriptedSTT",
    "SilentTTS",
    "Synthesis",
    "read_wav",
    "silence",
]

# 10 ms frames, as a LiveKit room delivers them.
FRAME_MS = 10
# How long a stand-in voice takes per character: about 15 characters a second, the
# pace of conversational speech, so playout lengths look like real ones.
SECONDS_PER_CHAR = 1 / 15


def read_wav(path: Path, *, frame_ms: int = FRAME_MS) -> list[rtc.AudioFrame]:
    """A 16-bit PCM WAV file as ``frame_ms`` frames (the last one padded with silence)."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    per_frame = rate * frame_ms // 1000 * channels
    padded = np.zeros(-(-len(samples) // per_frame) * per_frame, dtype=np.int16)
    padded[: len(samples)] = samples
    return [
        rtc.AudioFrame(
            data=padded[i : i + per_frame].tobytes(),
            sample_rate=rate,
            num_channels=channels,
            samples_per_channel=per_frame // channels,
        )
        for i in range(0, len(padded), per_frame)
    ]


def silence(
    seconds: float, *, sample_rate: int = 16_000, frame_ms: int = FRAME_MS
) -> list[rtc.AudioFrame]:
    """``seconds`` of silence as ``frame_ms`` frames."""
    per_frame = sample_rate * frame_ms // 1000
    count = round(seconds * 1000 / frame_ms)
    return [
        rtc.AudioFrame(
            data=bytes(2 * per_frame),
            sample_rate=sample_rate,
            num_channels=1,
            samples_per_channel=per_frame,
        )
        for _ in range(count)
    ]


# --- speech to text ---------------------------------------------------------------------


class ScriptedSTT(StandIn, stt.STT[Any]):
    """A batch STT that returns its script's lines, one per utterance heard."""

    stand_in = "scripted"

    def __init__(self, lines: Iterable[str] = ()) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._lines = list(lines)
        self.heard: list[float] = []  # seconds of audio in each utterance recognized
        self._ids = itertools.count(1)

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: Any = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        frames = buffer if isinstance(buffer, list) else [buffer]
        self.heard.append(sum(f.duration for f in frames))
        text = self._lines.pop(0) if self._lines else ""
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=f"stt_{next(self._ids)}",
            alternatives=[stt.SpeechData(language=LanguageCode("en"), text=text, confidence=1.0)],
        )


# --- text to speech ----------------------------------------------------------------------


@dataclass(frozen=True)
class Synthesis:
    """One request to :class:`SilentTTS`."""

    text: str
    voice: str | None
    instructions: str | None


class SilentTTS(StandIn, tts.TTS[Any]):
    """Silence as long as the text would take to say; records each request.

    ``voice`` and ``instructions`` mirror what a real TTS is configured with (the
    worker sets ``instructions`` through :meth:`update_options`, as it does for
    OpenAI's TTS), so a test can check which voice said what, and how.
    """

    stand_in = "silent"

    def __init__(
        self,
        *,
        voice: str | None = None,
        instructions: str | None = None,
        sample_rate: int = 24_000,
        log: list[Synthesis] | None = None,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self.voice = voice
        self.instructions = instructions
        self.requests: list[Synthesis] = log if log is not None else []

    def update_options(self, *, instructions: str | None = None) -> None:
        self.instructions = instructions

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        self.requests.append(Synthesis(text, self.voice, self.instructions))
        return _SilentStream(tts=self, input_text=text, conn_options=conn_options)


class _SilentStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        rate = self._tts.sample_rate
        output_emitter.initialize(
            request_id=utils.shortuuid("silent_"),
            sample_rate=rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        samples = max(1, round(len(self._input_text) * SECONDS_PER_CHAR * rate))
        output_emitter.push(bytes(2 * samples))
        output_emitter.flush()


# --- the caller's microphone and speaker -------------------------------------------------


class QueuedAudioInput(io.AudioInput):
    """Frames pushed by the test, delivered in order; ends when :meth:`close` is
    called."""

    def __init__(self) -> None:
        super().__init__(label="flowctl.fakes.QueuedAudioInput")
        self._frames: asyncio.Queue[rtc.AudioFrame | None] = asyncio.Queue()

    def push(self, frames: Iterable[rtc.AudioFrame]) -> None:
        for frame in frames:
            self._frames.put_nowait(frame)

    def close(self) -> None:
        self._frames.put_nowait(None)

    async def __anext__(self) -> rtc.AudioFrame:
        frame = await self._frames.get()
        if frame is None:
            raise StopAsyncIteration
        return frame


class CapturingAudioOutput(io.AudioOutput):
    """Keeps every frame; each flushed segment is reported played out in full at once."""

    def __init__(self) -> None:
        super().__init__(
            label="flowctl.fakes.CapturingAudioOutput",
            capabilities=io.AudioOutputCapabilities(pause=False),
        )
        self.segments: list[float] = []  # seconds of audio in each segment played
        self._pushed = 0.0
        self._started = False

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._started:
            self._started = True
            self.on_playback_started(created_at=time.time())
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if not self._started:
            return
        played, self._pushed, self._started = self._pushed, 0.0, False
        self.segments.append(played)
        self.on_playback_finished(playback_position=played, interrupted=False)

    def clear_buffer(self) -> None:
        if not self._started:
            return
        played, self._pushed, self._started = self._pushed, 0.0, False
        self.segments.append(played)
        self.on_playback_finished(playback_position=played, interrupted=True)


# --- the providers and the room ------------------------------------------------------------


class FakePlugins(Plugins):
    """Stand-ins for every provider: one scripted model, one scripted STT, and a
    silent voice per TTS config (its ``voice`` named), all logging to
    :attr:`spoken`."""

    def __init__(self, *, llm: ScriptedLLM | None = None, stt: ScriptedSTT | None = None) -> None:
        super().__init__(env={})
        self.model = llm or ScriptedLLM()
        self.ears = stt or ScriptedSTT()
        self.spoken: list[Synthesis] = []
        self.voices: list[SilentTTS] = []

    def stt(self, config: STTConfig, keys: Keys | None = None) -> stt.STT[Any]:
        return self.ears

    def llm(self, config: LLMConfig, keys: Keys | None = None) -> ScriptedLLM:
        return self.model

    def tts(self, config: TTSConfig, keys: Keys | None = None) -> tts.TTS[Any]:
        made = SilentTTS(voice=config.voice, log=self.spoken)
        self.voices.append(made)
        return made


class FakeRoom:
    """A room for one call: a microphone, a speaker, every message kept, and a caller
    with ``attributes`` who is on a phone line when ``sip``."""

    def __init__(self, *, attributes: dict[str, str] | None = None, sip: bool = False) -> None:
        self.caller_attributes = attributes
        self.sip = sip
        self.mic = QueuedAudioInput()
        self.speaker = CapturingAudioOutput()
        self.messages = MemoryPublisher()
        self.session: Any = None
        self.agent: Any = None
        self.transfers: list[str] = []
        self.hung_up = False
        self.shutdowns: list[str] = []
        self.closed = asyncio.Event()  # set when the job ends

    @property
    def publisher(self) -> MemoryPublisher:
        return self.messages

    async def attributes(self) -> dict[str, str] | None:
        return self.caller_attributes

    async def start(self, session: Any, agent: Any) -> None:
        self.session, self.agent = session, agent
        session.input.audio = self.mic
        session.output.audio = self.speaker
        await session.start(agent)

    def caller_is_sip(self) -> bool:
        return self.sip

    def caller_number(self) -> str | None:
        return (self.caller_attributes or {}).get("sip.phoneNumber") if self.sip else None

    async def transfer(self, to: str) -> None:
        self.transfers.append(to)

    async def hang_up(self) -> None:
        self.hung_up = True

    def shutdown(self, reason: str) -> None:
        self.shutdowns.append(reason)
        self.closed.set()
