"""Caller memory around a session (``flowctl.engine.memory``): who is calling, and what
their call leaves for the next one, the same way for the voice worker's calls
(``call.py``) and the dry runs of ``flowctl simulate`` (``simulate.py``).

A flow whose ``memory`` asks for a summary gets one from the session's own model when
the call is over, asked with the flow's prompt over the whole chat history (in dry
runs, the scripted model's next step: the scenario's ``summary``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livekit.agents import llm

from flowctl.engine.memory import DEFAULT_MEMORY_PROMPT, MemoryBank, check_caller, remembered
from flowctl.engine.store.errors import StoreError

if TYPE_CHECKING:
    from livekit.agents import AgentSession
    from livekit.agents.types import APIConnectOptions

    from flowctl.engine.routing import Routed
    from flowctl.engine.runtime import Conversation
    from flowctl.engine.store.records import CallerMemory
    from flowctl.worker.room import CallRoom

__all__ = ["caller_id", "remember_call", "written_summary"]


async def caller_id(room: CallRoom, routed: Routed) -> str | None:
    """Who is calling: the number of a caller on a phone line (SIP), else the job's
    user id; None when neither is known (or is no usable caller id). Waits for the
    caller to join the room."""
    await room.attributes()
    caller = room.caller_number() or routed.user_id
    try:
        return check_caller(caller) if caller else None
    except StoreError:
        return None


async def written_summary(
    model: llm.LLM[Any], history: llm.ChatContext, prompt: str, conn_options: APIConnectOptions
) -> str:
    """``model``'s summary of ``history``, asked with ``prompt`` (a system message after
    it); empty when it wrote none. Function calls are left out of what it reads."""
    ctx = history.copy(exclude_function_call=True)
    ctx.add_message(role="system", content=prompt)
    words: list[str] = []
    async with model.chat(chat_ctx=ctx, conn_options=conn_options) as stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                words.append(chunk.delta.content)
    return "".join(words).strip()


async def remember_call(
    bank: MemoryBank,
    conversation: Conversation,
    *,
    outcome: str,
    session: AgentSession[Any] | None,
) -> CallerMemory | None:
    """Keep what ``conversation`` (ended for ``outcome``) adds to its caller's memory in
    ``bank``, with the summary ``session``'s model writes when the flow asks for one.
    None when there is nothing to keep: the flow remembers nothing, or the caller is
    unknown."""
    spec = conversation.compiled.flow.memory
    caller = conversation.caller
    if spec is None or not caller:
        return None
    summary = None
    model = session.llm if session is not None else None
    if spec.summary is not None and spec.summary.enabled and isinstance(model, llm.LLM):
        assert session is not None
        prompt = DEFAULT_MEMORY_PROMPT
        if spec.summary.prompt:
            prompt = conversation.render(spec.summary.prompt, prompt=True)
        options = session.conn_options.llm_conn_options
        summary = await written_summary(model, session.history, prompt, options)
    return await bank.remember(caller, remembered(conversation, outcome=outcome, summary=summary))
