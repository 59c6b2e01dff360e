"""The interactive session (``flowctl simulate FLOW`` without ``--scenario``): how it is
left (``/quit``, Ctrl-D, Ctrl-C), what ``/edges`` and ``/go`` show."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FLOWS, GOODBYE, quiet_handoff
from flowkit import compile_file
from livekit.agents import llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS

from flowctl.cli.main import cli
from flowctl.worker.repl import run_lines
from flowctl.worker.transcript import Line

CLINIC = FLOWS / "clinic.json"
GREETING = (
    "agent: You're speaking with the Maple Grove Family Clinic front-desk assistant. I can book, "
    "change or cancel an appointment, check your insurance, or connect you with our clinical "
    "team. How can I help you?"
)

LOOKUP = dict(
    kind="mock",
    name="lookup",
    description="Look up the caller's next visit.",
    parameters={"caller": {"type": "str", "description": "The caller's name."}},
    result={"found": True, "slot": "10:30"},
)
# A state whose edge is guarded both ways and which offers a tool with a short answer.
GUARDED = {
    "variables": {
        "verified": {"type": "bool", "description": "Whether the caller was verified."},
        "caller": {"type": "str", "description": "The caller's name."},
    },
    "tools": [LOOKUP],
    "agents": [
        {
            "name": "Main",
            "instructions": "Help the caller with their question.",
            "tools": ["lookup"],
            "edges": [
                {
                    "name": "finish",
                    "description": "The caller has no more questions and says goodbye",
                    "target_agent": "Goodbye",
                    "requires": ["caller"],
                    "when": "verified",
                }
            ],
        },
        GOODBYE,
    ],
}


def talk(flow: Path, text: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["simulate", str(flow)], input=text)
    return result.exit_code, result.stdout, result.stderr


def guarded(tmp_path: Path) -> Path:
    path = tmp_path / "guarded.json"
    path.write_text(json.dumps(GUARDED))
    return path


@pytest.mark.parametrize(
    "text",
    ["Sorry, wrong number\n/quit\nhello again\n", "Sorry, wrong number\n"],
    ids=["quit", "end-of-input"],
)
def test_repl_quit_and_end_of_input_leave_after_the_call_has_ended(text: str) -> None:
    ended = [
        GREETING,
        "user: Sorry, wrong number",
        "  tool end_call -> ok",
        "  call ended (end_call)",
        "summary: IntakeAgent; ended in IntakeAgent (end_call)",
    ]
    assert talk(CLINIC, text) == (0, "\n".join(ended) + "\n", "")


@pytest.mark.parametrize(
    ("flow", "text", "printed"),
    [
        (
            guarded,
            "/edges\n",
            [
                "  finish() [handoff] [requires caller; when verified]: "
                "The caller has no more questions and says goodbye",
                "  lookup(caller) [tool]: Look up the caller's next visit.",
                "summary: Main; ended in Main (hangup)",
            ],
        ),
        (
            guarded,
            '/go lookup {"caller": "Ana"}\n',
            [
                '/go lookup {"caller": "Ana"}',
                '  tool lookup -> ok {"found": true, "slot": "10:30"}',
                "summary: Main; ended in Main (hangup)",
            ],
        ),
        (
            quiet_handoff,
            "/go to_desk\n/go finish\n",
            [
                "/go to_desk {}",
                "  to_desk: Main -> Desk",
                "agent: (silence)",  # the edge says nothing and Desk has no greeting
                "/go finish {}",  # the call ends: no one is left waiting
                "  finish: Desk -> Goodbye",
                "  call ended (end_state)",
                "summary: Main -> Desk -> Goodbye; ended in Goodbye (end_state)",
            ],
        ),
    ],
    ids=[
        "edges-show-their-guards",
        "go-shows-what-a-tool-returned",
        "go-shows-the-silence-after-a-handoff-with-nothing-to-say",
    ],
)
def test_repl_commands_print(
    tmp_path: Path, flow: Callable[[Path], Path], text: str, printed: list[str]
) -> None:
    code, out, err = talk(flow(tmp_path), text)
    assert (code, err) == (0, "")
    assert out.splitlines() == printed


def test_repl_ctrl_c_at_the_prompt_leaves_with_130_and_no_warning() -> None:
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "flowctl"), "simulate", str(CLINIC)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "always"},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == GREETING + "\n"  # it waits for a line now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.communicate()
    assert (proc.returncode, out, err) == (130, "", "")


def test_repl_on_a_terminal_does_not_repeat_the_typed_line() -> None:
    """The terminal shows what was typed (its echo); the REPL adds no ``user: ...``."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "flowctl"), "simulate", str(CLINIC)],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(follower)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen and select.select([leader], [], [], 30)[0]:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the REPL has left and closed the terminal
                return
            if not chunk:
                return
            seen += chunk

    try:
        read_until(b"help you?\r\n")
        os.write(leader, b"Sorry, wrong number\n")
        read_until(b"(end_call)\r\n")
        os.write(leader, b"/quit\n")
        read_until(b"never")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(leader)
        assert proc.stderr is not None
        prompts = proc.stderr.read()
        proc.stderr.close()
    assert seen.decode().split("\r\n") == [
        GREETING,
        "Sorry, wrong number",  # the terminal's echo of what was typed
        "  tool end_call -> ok",
        "  call ended (end_call)",
        "/quit",
        "summary: IntakeAgent; ended in IntakeAgent (end_call)",
        "",
    ]
    assert prompts == b"you> you> "  # input() prompts on stderr


class _Silent(llm.LLM):
    """A model that never answers: the turn runs until it is cancelled."""

    def chat(self, **_: Any) -> llm.LLMStream:
        return _Never(
            self,
            chat_ctx=llm.ChatContext.empty(),
            tools=[],
            conn_options=DEFAULT_API_CONNECT_OPTIONS,
        )


class _Never(llm.LLMStream):
    async def _run(self) -> None:
        await asyncio.Event().wait()


async def test_repl_ctrl_c_during_a_turn_cancels_only_that_turn() -> None:
    printed: list[Line] = []
    asyncio.get_running_loop().call_later(0.3, os.kill, os.getpid(), signal.SIGINT)
    conv = await run_lines(
        compile_file(CLINIC),
        ["hello", "/state"],
        printed.append,
        model=lambda conv: _Silent(),
        timeout=20,
    )
    assert conv.ended is None
    assert [line.text for line in printed][1:] == [
        "user: hello",
        "  (turn cancelled)",
        "state: IntakeAgent",
        "summary: IntakeAgent; ended in IntakeAgent (hangup)",
    ]


def test_repl_offline_model_fills_an_edges_arguments_from_its_example() -> None:
    code, out, err = talk(CLINIC, "Can I take ibuprofen with my blood pressure medicine?\n/vars\n")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        "user: Can I take ibuprofen with my blood pressure medicine?",
        "  transfer_to_specialist: IntakeAgent -> SpecialistAgent",
        "agent: Thanks, Ana Lopez. I'm bringing in our clinical assistant, who can help with "
        "that. Hi Ana Lopez, I'm the clinic's clinical assistant. I understand you have a "
        "question about taking ibuprofen with your blood pressure medicine. So I can look at "
        "the right record, could you please confirm the patient's date of birth?",
        'variables: {"caller_name": "Ana Lopez", '
        '"clinic_name": "Maple Grove Family Clinic", '
        '"specialist_question": "taking ibuprofen with your blood pressure medicine"}',
        "summary: IntakeAgent -> SpecialistAgent; ended in SpecialistAgent (hangup); "
        "caller_name: Ana Lopez, specialist_question: taking ibuprofen with your blood "
        "pressure medicine",
    ]


def test_repl_offline_model_names_the_arguments_an_example_does_not_give(
    tmp_path: Path,
) -> None:
    flow = json.loads(CLINIC.read_text())
    edge = flow["agents"][0]["edges"][0]
    edge["examples"] = [x["text"] for x in edge["examples"]]
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(flow))
    code, out, err = talk(path, "I need a refill on my metformin\n")
    assert (code, err) == (0, "")
    assert out.splitlines()[1:] == [
        "user: I need a refill on my metformin",
        "agent: [offline model: `transfer_to_specialist` needs caller_name, specialist_question; "
        "give its examples `args`, or /go transfer_to_specialist {json} calls it by hand]",
        "summary: IntakeAgent; ended in IntakeAgent (hangup)",
    ]


def test_repl_offline_model_calls_a_tool_from_its_example_and_shows_what_it_returned() -> None:
    """``appointment_booking``'s examples carry its arguments: a natural sentence books,
    the tool's answer is shown (the offline model says nothing after it), ``/history``
    shows the arguments it was called with, ``/vars`` what its result set."""
    code, out, err = talk(CLINIC, "Book me in Tuesday at 10am\n/history\n/vars\n")
    assert (code, err) == (0, "")
    booked = (
        '{"status": "booked", "appointment_id": "APT-48213", "slot": "Tuesday, March 11 at '
        '10:30 AM", "provider": "Dr. Elena Marsh, MD (family medicine)", "location": "1450 '
        'Maple Grove Avenue, Suite 210, second floor", "arrive_minutes_early": 15, "bring": '
        '["photo ID", "insurance card", "list of current medications"], "cancellation_policy": '
        '"Please cancel at least 24 hours ahead to avoid a $40 late-cancellation fee."}'
    )
    args = (
        '{"patient_name": "Ana Lopez", "date_of_birth": "1984-02-17", "request_type": "book", '
        '"visit_reason": "annual physical", "preferred_day": "Tuesday", "preferred_time": '
        '"morning"}'
    )
    assert out.splitlines()[1:] == [
        "user: Book me in Tuesday at 10am",
        f"  tool appointment_booking -> ok {booked}",
        "  entered  IntakeAgent",
        f"  called   appointment_booking {args}",
        f"  tool     appointment_booking {args}",
        f"  result   appointment_booking ok {booked}",
        'variables: {"appointment_id": "APT-48213", '
        '"appointment_time": "Tuesday, March 11 at 10:30 AM", '
        '"clinic_name": "Maple Grove Family Clinic"}',
        "summary: IntakeAgent; ended in IntakeAgent (hangup); appointment_id: APT-48213, "
        "appointment_time: Tuesday, March 11 at 10:30 AM",
    ]
