"""How the adapter follows the conversation: in place or with a new agent, the history
each state's ``context`` policy carries, structured answers, chains of function calls
and calls the state does not offer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("livekit.agents")

from flowkit import compile_doc
from livekit.agents import AgentSession
from livekit.agents.voice import io
from workerkit import until

from flowctl.engine.runtime import Conversation, OutputInvalid, OutputRecorded, RefusedEvent
from flowctl.worker import agent as agent_module
from flowctl.worker.agent import FlowAgent
from flowctl.worker.llm import ScriptedLLM, Step


def _to(name: str, target: str) -> dict[str, Any]:
    return {"name": name, "description": f"Go to {target} now", "target_agent": target}


def _state(name: str, *edges: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "instructions": f"You are the {name} desk.",
        "on_enter_prompt": f"This is {name}.",
        "edges": list(edges),
        **extra,
    }


OUTPUT = {
    "fields": [
        {"field_name": "system_response", "metadata": {"use_in_tts": True}},
        {"field_name": "score", "field_type": "int", "constraints": {"ge": 1, "le": 10}},
        {"field_name": "mood", "metadata": {"hidden": True}},
    ]
}

FLOW = {
    "tools": [{"kind": "mock", "name": "lookup", "description": "Look it up", "result": {"n": 1}}],
    "agents": [
        _state(
            "Front",
            _to("to_keep", "Keep"),
            _to("to_reset", "Reset"),
            _to("to_last2", "Last2"),
            _to("to_summary", "Summary"),
            _to("to_voice", "Voice"),
            _to("to_survey", "Survey"),
            {
                "name": "note",
                "description": "Note the caller's name",
                "action": "action",
                "tool": "set_variables",
                "parameters": {"caller": {"type": "str"}},
            },
            tools=["lookup", "end_call"],
        ),
        _state("Keep", _to("back", "Front")),
        _state("Reset", _to("back", "Front"), context="reset"),
        _state("Last2", _to("back", "Front"), context=2),
        _state("Summary", _to("back", "Front"), context="summary"),
        _state("Voice", _to("back", "Front"), tts={"provider": "openai", "voice": "sage"}),
        _state("Survey", _to("back", "Front"), output=OUTPUT),
    ],
    "variables": {"caller": {"type": "str"}},
}


@pytest.fixture(scope="module")
def compiled():  # type: ignore[no-untyped-def]
    return compile_doc(FLOW)


async def _session(compiled, turns: list[tuple[str, list[Step]]]):  # type: ignore[no-untyped-def]
    """Run the turns; the conversation, the model, the agent at the end, and each run."""
    conv = Conversation(compiled)
    model = ScriptedLLM()
    runs = []
    async with AgentSession(llm=model, max_tool_steps=compiled.max_tool_steps) as session:
        await session.start(await FlowAgent.open(conv), capture_run=True)
        for user, steps in turns:
            model.plan(steps)
            runs.append(await session.run(user_input=user))
        agent = session.current_agent
    conv.close()
    return conv, model, agent, runs


def _texts(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        f"{item.role}: {item.text_content}"
        for item in ctx.items
        if item.type == "message" and item.role != "system"
    ]


async def test_same_voice_switches_in_place_and_keeps_the_history(compiled) -> None:  # type: ignore[no-untyped-def]
    conv, model, agent, runs = await _session(
        compiled,
        [("hello", [Step.say("Hi there.")]), ("keep going", [Step.call("to_keep")]), ("and?", [])],
    )
    assert conv.state == "Keep"
    assert isinstance(agent, FlowAgent) and agent.switches == 1
    assert agent.instructions == "You are the Keep desk."
    assert [t.id for t in agent.offered_tools()] == ["back"]
    # The new state's words are the reply's own text; the call and its answer follow.
    events = [(type(e).__name__, getattr(e.item, "content", None)) for e in runs[1].events]
    assert events == [
        ("ChatMessageEvent", ["This is Keep."]),
        ("FunctionCallEvent", None),
        ("FunctionCallOutputEvent", None),
    ]
    assert _texts(model.contexts[-1]) == [
        "assistant: This is Front.",
        "user: hello",
        "assistant: Hi there.",
        "user: keep going",
        "assistant: This is Keep.",
        "user: and?",
    ]


async def test_another_voice_gets_a_new_agent(compiled) -> None:  # type: ignore[no-untyped-def]
    conv, _, agent, runs = await _session(compiled, [("a voice", [Step.call("to_voice")])])
    assert conv.state == "Voice"
    assert isinstance(agent, FlowAgent) and agent.switches == 0
    assert "AgentHandoffEvent" in [type(e).__name__ for e in runs[0].events]


@pytest.mark.parametrize(
    ("edge", "seen"),
    [
        ("to_reset", ["assistant: This is Reset.", "user: next"]),
        # the last two items when the edge fired: the reply before, and the request
        ("to_last2", ["assistant: Hi.", "user: go", "assistant: This is Last2.", "user: next"]),
        # the last exchange, after the engine's recap
        ("to_summary", ["assistant: Hi.", "user: go", "assistant: This is Summary.", "user: next"]),
    ],
    ids=["reset", "last-2", "summary"],
)
async def test_the_context_policy_cuts_the_history(compiled, edge: str, seen: list[str]) -> None:  # type: ignore[no-untyped-def]
    _, model, _, _ = await _session(
        compiled,
        [("hello", [Step.say("Hi.")]), ("go", [Step.call(edge)]), ("next", [])],
    )
    assert _texts(model.contexts[-1]) == seen


async def test_summary_starts_with_the_engine_recap(compiled) -> None:  # type: ignore[no-untyped-def]
    _, model, _, _ = await _session(
        compiled,
        [
            ("I'm Ana", [Step.call("note", {"caller": "Ana"}), Step.say("Thanks, Ana.")]),
            ("go", [Step.call("to_summary")]),
            ("next", []),
        ],
    )
    system = [
        i.text_content
        for i in model.contexts[-1].items
        if i.type == "message" and i.role == "system"
    ]
    assert system[-1] == (
        'Summary of the call so far: it went Front -> Summary. Known: {"caller":"Ana"}.'
    )


async def test_a_structured_answer_is_spoken_and_recorded(compiled) -> None:  # type: ignore[no-untyped-def]
    outputs: list[dict[str, Any]] = []
    conv = Conversation(compiled)
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        await session.start(FlowAgent(conv, on_output=outputs.append))
        model.plan([Step.call("to_survey")])
        await session.run(user_input="survey please")
        answer = {
            "mood": "calm",
            "score": 7,
            "system_response": 'Thanks \u2014 "seven" it is.\nBye.',
        }
        model.plan([Step.output(answer)])
        run = await session.run(user_input="seven")
    conv.close()
    assert run.events[-1].item.content == ['Thanks \u2014 "seven" it is.\nBye.']
    recorded = [e for e in conv.history if isinstance(e, OutputRecorded)]
    assert [e.fields for e in recorded] == [answer]
    assert outputs == [{"score": 7, "system_response": answer["system_response"]}]


async def test_an_answer_outside_the_schema_is_recorded_as_invalid(compiled) -> None:  # type: ignore[no-untyped-def]
    conv, _, _, runs = await _session(
        compiled,
        [
            ("survey", [Step.call("to_survey")]),
            ("eleven", [Step.output({"system_response": "Eleven!", "score": 11, "mood": "x"})]),
            ("plain", [Step.say("Just words.")]),
        ],
    )
    invalid = [(e.error, e.text) for e in conv.history if isinstance(e, OutputInvalid)]
    assert invalid == [
        (
            "Expected `int` <= 10 - at `$.score`",
            '{"system_response": "Eleven!", "score": 11, "mood": "x"}',
        ),
        ("not JSON: JSON is malformed: invalid character (byte 0)", "Just words."),
    ]
    assert runs[1].events[-1].item.content == ["Eleven!"]  # spoken as it streamed
    assert runs[2].events[-1].item.content == ["Just words."]


async def test_a_chain_of_calls_is_not_cut_short(compiled) -> None:  # type: ignore[no-untyped-def]
    chain = [Step.call("lookup"), Step.call("note", {"caller": "Bo"}), Step.call("lookup")]
    conv, model, _, _ = await _session(compiled, [("go", [*chain, Step.call("to_keep")])])
    # Five calls: three staying functions, a refusal, the move; LiveKit allows
    # max_tool_steps + 1 rounds.
    assert compiled.max_tool_steps == 4
    assert conv.state == "Keep"
    assert model.blocked == []


async def test_the_session_default_of_three_steps_would_cut_it(compiled) -> None:  # type: ignore[no-untyped-def]
    conv = Conversation(compiled)
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:  # LiveKit's default max_tool_steps=3
        await session.start(FlowAgent(conv))
        model.plan([Step.call("lookup")] * 4 + [Step.call("to_keep")])
        await session.run(user_input="go")
    conv.close()
    assert conv.state == "Front"
    assert model.blocked == [Step.call("to_keep")]


async def test_a_function_the_state_does_not_offer_is_refused_by_the_engine(compiled) -> None:  # type: ignore[no-untyped-def]
    conv, _, _, runs = await _session(
        compiled, [("go", [Step.call("back"), Step.say("Sorry, I can't do that here.")])]
    )
    refused = [(e.name, e.reason) for e in conv.history if isinstance(e, RefusedEvent)]
    assert refused == [
        (
            "back",
            "`back` is not available in this step. Available: `to_keep`, `to_reset`, "
            "`to_last2`, `to_summary`, `to_voice`, `to_survey`, `note`, `lookup`, `end_call`.",
        )
    ]
    assert conv.state == "Front"
    assert runs[0].events[-1].item.content == ["Sorry, I can't do that here."]


# --- a call followed in the reply that made it ------------------------------------------

ENTRY = {
    "agents": [
        _state("Front", _to("to_desk", "Desk")),
        {
            "name": "Desk",
            "instructions": "You are the Desk.",
            "on_enter_prompt": "This is Desk.",
            "on_enter": {"task": "Ask for the order number."},
            "edges": [_to("only_here", "Done")],
        },
        _state("Done", end=True),
    ]
}


async def test_the_entry_turn_is_the_same_reply_and_may_call_the_new_states_functions() -> None:
    conv, model, agent, runs = await _session(
        compile_doc(ENTRY),
        [("the desk, please", [Step.call("to_desk"), Step.call("only_here")])],
    )
    # Front moved to Desk within its reply; Desk's entry turn (that reply's second model
    # request) called a function only Desk offers, and it ran: the call is over.
    assert conv.state == "Done" and conv.ended is not None
    assert model.requests == [["to_desk"], ["only_here"]]
    entry = model.contexts[1]
    system = [i.text_content for i in entry.items if i.type == "message" and i.role == "system"]
    assert system == ["You are the Desk.", "Ask for the order number."]
    assert [(i.type, getattr(i, "name", None)) for i in entry.items[-4:-1]] == [
        ("function_call", "to_desk"),
        ("function_call_output", "to_desk"),
        ("message", None),
    ]
    said = [e.item.content for e in runs[0].events if type(e).__name__ == "ChatMessageEvent"]
    assert said == [["This is Desk."], ["This is Done."]]
    # LiveKit ran the move to Desk before the entry turn's call; the agent switched
    # once, to Done (the switch to Desk, waiting for its words, found it covered).
    calls = [e.item.name for e in runs[0].events if type(e).__name__ == "FunctionCallEvent"]
    assert calls == ["to_desk", "only_here"]
    assert isinstance(agent, FlowAgent) and agent.switches == 1
    assert agent.instructions == "You are the Done desk."


async def test_the_engine_moves_after_the_callers_words_are_in_the_conversation(compiled) -> None:  # type: ignore[no-untyped-def]
    # The scripted model answers at once: its call reaches the adapter before LiveKit
    # has put the caller's message in the conversation; the engine must not move
    # before it (a call's record would show the move before the words).
    conv = Conversation(compiled)
    model = ScriptedLLM()
    at_the_words: list[list[str]] = []

    def added(event: Any) -> None:
        if event.item.type == "message" and event.item.role == "user":
            at_the_words.append([type(e).__name__ for e in conv.history])

    async with AgentSession(llm=model) as session:
        session.on("conversation_item_added", added)
        await session.start(FlowAgent(conv), capture_run=True)
        model.plan([Step.call("to_keep")])
        run = await session.run(user_input="keep going")
    conv.close()
    assert run.events[0].item.content == ["This is Keep."]  # followed in the stream
    assert at_the_words == [["Entered"]]
    assert [type(e).__name__ for e in conv.history] == ["Entered", "Called", "Fired", "Entered"]


async def test_a_reply_cut_off_after_its_call_was_followed_leaves_the_agent_in_the_new_state(
    compiled, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    follow = FlowAgent._follow_in_stream

    async def then_cut_off(self: FlowAgent, *args: Any) -> Any:
        # The call fired; then the caller talks over the reply, which stops there:
        # LiveKit never runs the call's tool.
        await follow(self, *args)
        self.session.interrupt()
        raise asyncio.CancelledError

    monkeypatch.setattr(FlowAgent, "_follow_in_stream", then_cut_off)
    conv = Conversation(compiled)
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        agent = FlowAgent(conv)
        await session.start(agent, capture_run=True)
        model.plan([Step.call("to_keep")])
        run = await session.run(user_input="keep going")
        await until(session, lambda: agent.switches == 1)
    conv.close()
    assert not [e for e in run.events if type(e).__name__ == "FunctionCallOutputEvent"]
    assert conv.state == "Keep"
    assert agent.instructions == "You are the Keep desk."
    assert [t.id for t in agent.offered_tools()] == ["back"]


class _Output(io.TextOutput):
    """A text session's output, noting what reached it in ``seen``."""

    def __init__(self, seen: list[str]) -> None:
        super().__init__(label="test", next_in_chain=None)
        self.seen = seen

    async def capture_text(self, text: str) -> None:
        self.seen.append(f"said {text}")

    def flush(self) -> None:
        pass


async def test_livekit_runs_the_calls_tool_once_the_new_states_words_are_out(
    compiled, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # LiveKit's running of a tool would hold up the words: the call reaches it after.
    seen: list[str] = []
    answer = agent_module._answer

    def noted(move: Any) -> Any:
        seen.append("tool runs")
        return answer(move)

    monkeypatch.setattr(agent_module, "_answer", noted)
    conv = Conversation(compiled)
    model = ScriptedLLM()
    async with AgentSession(llm=model) as session:
        session.output.transcription = _Output(seen)
        await session.start(FlowAgent(conv), capture_run=True)
        model.plan([Step.call("to_keep")])
        seen.clear()
        await session.run(user_input="keep going")
    conv.close()
    assert seen == ["said This is Keep.", "tool runs"]


async def test_a_call_whose_words_livekit_never_commits_goes_livekits_way(
    compiled, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # A reply whose caller's message LiveKit does not commit as it usually does (the
    # adapter never hears it): the call is not followed in the stream and does not
    # hang; LiveKit's tool fires it, and the new state's words are said after.
    monkeypatch.setattr(agent_module, "COMMIT_WAIT", 0.01)
    monkeypatch.setattr(agent_module._Heard, "has", lambda *_: False)
    monkeypatch.setattr(agent_module._Heard, "added", lambda *_: None)
    conv, _, agent, runs = await _session(compiled, [("keep going", [Step.call("to_keep")])])
    assert conv.state == "Keep" and isinstance(agent, FlowAgent) and agent.switches == 1
    events = [type(e).__name__ for e in runs[0].events]
    assert events == ["FunctionCallEvent", "FunctionCallOutputEvent", "ChatMessageEvent"]
    assert runs[0].events[-1].item.content == ["This is Keep."]
