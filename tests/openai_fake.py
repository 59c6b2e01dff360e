"""A stand-in for an OpenAI-compatible chat completions server, on loopback, in a
thread: what a local model server would be, for tests of ``--llm openai:MODEL``.

``replies`` maps the user's last words to what the "model" does in that turn, in order:
``{"call": name, "args": {...}}`` or ``{"say": text}``. The step is chosen by how many
tool results follow the user's message, as a real model would carry on after them.
Every request body is kept in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from aiohttp import web


class FakeOpenAI:
    def __init__(self, replies: dict[str, list[dict[str, Any]]]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _step(self, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
        last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
        content = messages[last_user]["content"]
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content)
        results = sum(1 for m in messages[last_user:] if m["role"] == "tool")
        steps = self.replies.get(content, [])
        return steps[results] if results < len(steps) else None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        step = self._step(body["messages"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        if step is not None and "call" in step:
            call = {
                "index": 0,
                "id": f"call_{len(self.requests)}",
                "type": "function",
                "function": {"name": step["call"], "arguments": json.dumps(step.get("args", {}))},
            }
            await send({"role": "assistant", "tool_calls": [call]})
            await send({}, "tool_calls")
        else:
            text = step["say"] if step is not None else ""
            await send({"role": "assistant", "content": text})
            await send({}, "stop")
        await response.write(b"data: [DONE]\n\n")
        return response
