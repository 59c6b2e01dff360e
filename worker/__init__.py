"""The LiveKit adapter: the agent that mirrors a conversation's state, the voice
worker and its sessions, and the text-only simulator (scenario runs and the
interactive session). It knows LiveKit and holds no flow logic of its own.

The public names are importable from here (``from flowctl.worker import FlowAgent``),
each loaded on first use: importing the package does not import LiveKit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowctl.engine.exports import lazy

if TYPE_CHECKING:  # what the names below resolve to, for type checkers
    from flowctl.worker.agent import FlowAgent
    from flowctl.worker.call import Call
    from flowctl.worker.llm import OfflineLLM, ScriptedLLM
    from flowctl.worker.server import FlowServer, WorkerConfig
    from flowctl.worker.simulate import ScenarioResult, run_scenario, run_scenarios

# Each public name and the module that defines it (a test keeps it equal to __all__).
_HOMES = {
    "Call": "call",
    "FlowAgent": "agent",
    "FlowServer": "server",
    "OfflineLLM": "llm",
    "ScenarioResult": "simulate",
    "ScriptedLLM": "llm",
    "WorkerConfig": "server",
    "run_scenario": "simulate",
    "run_scenarios": "simulate",
}

__all__ = [
    "Call",
    "FlowAgent",
    "FlowServer",
    "OfflineLLM",
    "ScenarioResult",
    "ScriptedLLM",
    "WorkerConfig",
    "run_scenario",
    "run_scenarios",
]

__getattr__, __dir__ = lazy(__name__, _HOMES, globals())
