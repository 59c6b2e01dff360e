"""The session factory: a flow's ``stt``, ``llm``, ``tts``, ``vad`` and turn settings as
LiveKit plugin objects.

- :class:`Plugins` makes one plugin object from one config block, for any provider of
  the table (``flowctl.engine.providers``; each made by its maker in
  ``flowctl.worker.makers``), and Silero voice activity detection, with the key
  :class:`Keys` gives it. An operator's flow reads the environment: the block's
  ``api_key_env``, else the provider's usual variable. A tenant's flow reads its own
  secrets, or gets the operator's key on the operator's endpoint; never the
  operator's key on its own endpoint (``flowctl.engine.boundary.Boundary.provider_key``).
- :func:`check_providers` finds, before a worker takes any job, every block of every
  served flow (and of its states) that names a provider the worker cannot run, whose
  plugin is not installed (naming the extra to install) or whose key is missing, so a
  missing key fails at startup, naming the variable, and never in the middle of a
  call; :func:`provider_problems` is the same for one flow (a store's flow with a
  problem is not served, and the others are).
- :class:`SessionFactory` holds what a process shares (the plugin maker, the Silero
  models loaded once); :meth:`SessionFactory.models` gives one session its
  :class:`SessionModels`: the ``AgentSession`` options, and FlowAgent's ``voice`` hook,
  which hands a state with its own ``llm`` or ``tts`` (another voice) its own objects.
  Equal configs share one object within a session.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import msgspec

from flowctl.engine.boundary import OPERATOR, PROVIDER_KEYS, Boundary, KeyRefused
from flowctl.engine.providers import PROVIDERS as PROVIDER_TABLE
from flowctl.engine.providers import provider_of
from flowctl.engine.runtime import Conversation
from flowctl.engine.spec import LLMConfig, STTConfig, TTSConfig, VADConfig
from flowctl.worker.makers import CLIENTS, MAKERS

if TYPE_CHECKING:
    from livekit.agents import llm, stt, tts, vad

    from flowctl.engine.library import ServedFlow

__all__ = [
    "DEFAULT_KEYS",
    "PROVIDERS",
    "Keys",
    "Plugins",
    "SessionFactory",
    "SessionModels",
    "check_providers",
    "load_vads",
    "provider_blocks",
    "provider_problems",
    "steers_voice",
    "vad_key",
]

logger = logging.getLogger(__name__)

# What the worker can run, per block: the provider table's (flowctl.engine.providers),
# and Silero for voice activity.
PROVIDERS: dict[str, tuple[str, ...]] = {
    **{block: tuple(providers) for block, providers in PROVIDER_TABLE.items()},
    "vad": ("silero",),
}
# The variable a provider's key is read from when the block names none.
DEFAULT_KEYS = PROVIDER_KEYS
# An OpenAI-compatible server on your own machine (a `base_url`) may take no key; the
# openai client insists on one all the same.
NO_KEY = "flowctl-no-key"

Config = LLMConfig | STTConfig | TTSConfig


def provider_blocks(served: ServedFlow) -> Iterable[tuple[str, str, Config | VADConfig]]:
    """Every provider block of a flow: (kind, path, config), the flow's then each
    state's; a flow without a block gets the default one."""
    flow = served.compiled.flow
    yield "stt", "stt", flow.stt or STTConfig()
    yield "llm", "llm", flow.llm or LLMConfig()
    yield "tts", "tts", flow.tts or TTSConfig()
    yield "vad", "vad", flow.vad or VADConfig()
    for i, state in enumerate(flow.agents):
        if state.llm is not None:
            yield "llm", f"agents[{i}].llm", state.llm
        if state.tts is not None:
            yield "tts", f"agents[{i}].tts", state.tts


def provider_problems(served: ServedFlow, env: Mapping[str, str]) -> list[str]:
    """What keeps the worker from running one flow's providers, one line per block, e.g.
    "`tts` (openai) needs OPENAI_API_KEY in the environment"."""
    problems: list[str] = []
    for kind, path, config in provider_blocks(served):
        if config.provider not in PROVIDERS[kind]:
            known = ", ".join(PROVIDERS[kind])
            problems.append(f"`{path}` names provider `{config.provider}`; the worker runs {known}")
            continue
        if isinstance(config, VADConfig):
            continue
        provider = provider_of(config)
        assert provider is not None
        if importlib.util.find_spec(provider.module) is None:
            problems.append(
                f"`{path}` ({config.provider}) needs {provider.package}: {provider.install}"
            )
            continue
        try:
            key = served.boundary.provider_key(config)
        except KeyRefused as exc:
            problems.append(f"`{path}` ({config.provider}) {exc}")
            continue
        if not key.secret and key.name is not None and not env.get(key.name):
            problems.append(f"`{path}` ({config.provider}) needs {key.name} in the environment")
    return list(dict.fromkeys(problems))


def check_providers(served: Iterable[ServedFlow], env: Mapping[str, str]) -> list[str]:
    """What keeps the worker from running these flows' providers, one line each, e.g.
    ``flows/clinic.json: `tts` (openai) needs OPENAI_API_KEY in the environment``."""
    problems = [f"{flow.location}: {p}" for flow in served for p in provider_problems(flow, env)]
    return list(dict.fromkeys(problems))


def vad_key(config: VADConfig) -> tuple[float | None, float | None, float | None]:
    """What makes two VADs differ (the turn settings do not: the session takes them)."""
    return (config.activation_threshold, config.min_speech_duration, config.min_silence_duration)


class _VADSettings(TypedDict, total=False):
    """What a flow sets of a Silero VAD; what it leaves out keeps LiveKit's default."""

    activation_threshold: float
    min_speech_duration: float
    min_silence_duration: float


def load_vads(configs: Iterable[VADConfig]) -> dict[Any, vad.VAD]:
    """A Silero model per distinct VAD setting: loading one takes tens of
    milliseconds and it is shared by every session of the process."""
    from livekit.plugins import silero

    vads: dict[Any, vad.VAD] = {}
    for config in configs:
        key = vad_key(config)
        if key not in vads:
            threshold, speech, silence = key
            options: _VADSettings = {}
            if threshold is not None:
                options["activation_threshold"] = threshold
            if speech is not None:
                options["min_speech_duration"] = speech
            if silence is not None:
                options["min_silence_duration"] = silence
            vads[key] = silero.VAD.load(**options)
    return vads


class Keys:
    """Where one session's provider keys come from: ``boundary.provider_key`` decides,
    then the key is the tenant's secret (from ``secrets``) or the operator's variable
    (from ``env``). An operator's flow (the default boundary) reads only ``env``."""

    def __init__(
        self,
        env: Mapping[str, str],
        boundary: Boundary = OPERATOR,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.env = env
        self.boundary = boundary
        self.secrets = secrets or {}

    def __repr__(self) -> str:  # never the values
        return f"Keys(tenant={self.boundary.tenant_id!r})"

    def key(self, kind: str, config: Config) -> str:
        """``config``'s key; ValueError when there is none (``check_providers`` runs
        first; this is the last line of defence)."""
        try:
            source = self.boundary.provider_key(config)
        except KeyRefused as exc:
            raise ValueError(f"`{kind}` ({config.provider}) {exc}") from None
        if source.secret:
            assert source.name is not None
            key = self.secrets.get(source.name)
            if not key:
                raise ValueError(f"`{kind}` ({config.provider}) needs the secret {source.name}")
            return key
        if source.name is None:  # the operator's own server, which may take no key
            provider = provider_of(config)
            usual = provider.key if provider is not None else ""
            return self.env.get(usual) or NO_KEY
        key = self.env.get(source.name)
        if not key:
            raise ValueError(f"`{kind}` ({config.provider}) needs {source.name} in the environment")
        return key


class Plugins:
    """Makes plugin objects from config blocks. Subclass it to stand in for providers
    (``flowctl.worker.fakes.FakePlugins``)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env
        # API clients (OpenAI's, Anthropic's) by event loop, SDK, key and endpoint.
        # Making one loads the system's certificates (~20 ms); sharing it across a
        # process's sessions also keeps its connections to the API warm, and closes
        # them once (Anthropic's plugin never closes a client it made itself).
        self._clients: weakref.WeakKeyDictionary[Any, dict[tuple[str, str, str | None], Any]] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self, sdk: str, key: str, base_url: str | None) -> Any | None:
        """The running loop's client of ``sdk`` for this key and endpoint, made on first
        use; None outside an event loop (the plugin makes its own)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        clients = self._clients.setdefault(loop, {})
        client = clients.get((sdk, key, base_url))
        if client is None:
            client = clients[sdk, key, base_url] = CLIENTS[sdk](key, base_url)
        return client

    def openai_client(self, key: str, base_url: str | None) -> dict[str, Any]:
        """The ``client`` (or, outside an event loop, ``api_key``/``base_url``) options
        of an OpenAI plugin object (or of a plugin built on it, as Groq's is)."""
        client = self._client("openai", key, base_url)
        if client is None:
            return {"api_key": key, **({"base_url": base_url} if base_url else {})}
        return {"client": client}

    def anthropic_client(self, key: str, base_url: str | None) -> dict[str, Any]:
        """The same for an Anthropic plugin object."""
        client = self._client("anthropic", key, base_url)
        if client is None:
            return {"api_key": key, **({"base_url": base_url} if base_url else {})}
        return {"api_key": key, "client": client}

    async def aclose(self) -> None:
        """Close the API clients made in the running event loop."""
        for client in self._clients.pop(asyncio.get_running_loop(), {}).values():
            await client.close()

    def _key(self, kind: str, config: Config, keys: Keys | None) -> str:
        return (keys or Keys(self.env)).key(kind, config)

    def _make(self, block: str, config: Config, keys: Keys | None) -> Any:
        make = MAKERS[block].get(config.provider)
        if make is None:
            raise ValueError(f"unsupported {block} provider `{config.provider}`")
        key = self._key(block, config, keys)
        try:
            return make(self, config, key)
        except ImportError:
            provider = provider_of(config)
            assert provider is not None
            raise ValueError(
                f"`{block}` ({config.provider}) needs {provider.package}: {provider.install}"
            ) from None

    def stt(self, config: STTConfig, keys: Keys | None = None) -> stt.STT[Any]:
        """``keys``: where the session's keys come from (None: this process's
        environment, for the operator's flows); the same for :meth:`llm` and :meth:`tts`."""
        made: stt.STT[Any] = self._make("stt", config, keys)
        return made

    def llm(self, config: LLMConfig, keys: Keys | None = None) -> llm.LLM[Any]:
        made: llm.LLM[Any] = self._make("llm", config, keys)
        return made

    def tts(self, config: TTSConfig, keys: Keys | None = None) -> tts.TTS[Any]:
        made: tts.TTS[Any] = self._make("tts", config, keys)
        return made


def steers_voice(engine: Any) -> bool:
    """Whether a TTS takes spoken instructions (OpenAI's ``gpt-4o-mini-tts`` does)."""
    update = getattr(engine, "update_options", None)
    if update is None:
        return False
    try:
        return "instructions" in inspect.signature(update).parameters
    except (TypeError, ValueError):
        return False


class SessionFactory:
    """What every session of a process shares: the plugin maker and the VADs."""

    def __init__(
        self,
        plugins: Plugins,
        vads: Mapping[Any, vad.VAD],
        *,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.plugins = plugins
        self.vads = vads
        # Further AgentSession options for every session, the flows' aside (e.g.
        # `session_close_transcript_timeout`: how long a closing session waits for the
        # caller's last words; LiveKit waits 2 s).
        self.options = dict(options or {})

    def models(self, conversation: Conversation, served: ServedFlow | None = None) -> SessionModels:
        """The models of one session of ``served`` (None: an operator's flow), with the
        keys its boundary allows."""
        env = self.plugins.env
        keys = Keys(env) if served is None else Keys(env, served.boundary, served.secrets)
        return SessionModels(self, conversation, keys)


C = TypeVar("C")  # a model's config
M = TypeVar("M")  # the model made from it


class SessionModels:
    """One session's plugin objects, made as its states need them."""

    def __init__(
        self, factory: SessionFactory, conversation: Conversation, keys: Keys | None = None
    ) -> None:
        self._factory = factory
        self._conversation = conversation
        self._keys = keys or Keys(factory.plugins.env)
        self._made: dict[Any, Any] = {}

    def _one(self, config: C, make: Callable[[C, Keys], M]) -> M:
        # By value: a config holds its options as a dict, so it is not hashable itself.
        key = (type(config), msgspec.json.encode(config))
        found: M | None = self._made.get(key)
        if found is None:
            found = self._made[key] = make(config, self._keys)
        return found

    def llm(self) -> llm.LLM[Any]:
        return self._one(self._conversation.setting("llm"), self._factory.plugins.llm)

    def tts(self) -> tts.TTS[Any]:
        return self._one(self._conversation.setting("tts"), self._factory.plugins.tts)

    def session_options(self) -> dict[str, Any]:
        """``AgentSession`` keyword arguments for the conversation as it starts."""
        conv = self._conversation
        vad_config: VADConfig = conv.setting("vad")
        vad_model = self._factory.vads.get(vad_key(vad_config))
        if vad_model is None:  # a flow the process did not prewarm (a newer version)
            vad_model = load_vads([vad_config])[vad_key(vad_config)]
        endpointing: dict[str, float] = {}
        if vad_config.min_endpointing_delay is not None:
            endpointing["min_delay"] = vad_config.min_endpointing_delay
        if vad_config.max_endpointing_delay is not None:
            endpointing["max_delay"] = vad_config.max_endpointing_delay
        turn: dict[str, Any] = {"turn_detection": vad_config.turn_detection}
        if endpointing:
            turn["endpointing"] = endpointing
        return {
            **self._factory.options,
            "stt": self._one(conv.setting("stt"), self._factory.plugins.stt),
            "llm": self.llm(),
            "tts": self.tts(),
            "vad": vad_model,
            "turn_handling": turn,
            "max_tool_steps": conv.compiled.max_tool_steps,
        }

    def voice(self, conversation: Conversation) -> Mapping[str, Any]:
        """FlowAgent's ``voice`` hook: the current state's language model and voice."""
        return {"llm": self.llm(), "tts": self.tts()}

    def steer(self, engine: Any, instructions: str) -> bool:
        """Tell ``engine`` (a TTS) how to sound from now on, when it takes
        instructions; False when it does not."""
        if not steers_voice(engine):
            return False
        engine.update_options(instructions=instructions)
        return True

    async def aclose(self) -> None:
        for made in self._made.values():
            close = getattr(made, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # closing must not hide why the session ended
                    logger.debug("closing %r failed", made, exc_info=True)
