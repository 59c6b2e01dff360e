"""Providers' APIs on loopback, speaking just enough of each for LiveKit's own plugin to
run its real code against them: the plugin is pointed at one by its ``base_url``.

- :class:`FakeAnthropic`: the Messages API (``POST /v1/messages``) as a server-sent
  event stream: text deltas, or a tool call whose arguments arrive in two pieces.
- :class:`FakeElevenLabs`: the multi-stream websocket (``/text-to-speech/{voice}/
  multi-stream-input``): each text message of a context answered with ``frames``
  frames of PCM, then ``isFinal`` when the context closes; and the HTTP stream
  (``POST /text-to-speech/{voice}/stream``).
- :class:`FakeCartesia`: the TTS websocket (``/tts/websocket``): each transcript
  answered with PCM chunks, ``done`` after the last; and ``POST /tts/bytes``.
- :class:`FakeAssemblyAI`: the streaming STT websocket (``/v3/ws``): ``Begin``, then a
  final ``Turn`` with the scripted transcript once a second of audio has arrived.

Each keeps what it was sent (``requests``: request bodies and query strings,
websocket messages), so a test checks that a flow's options reached the wire. Audio
is silence: ``FRAME_MS`` of 16-bit mono PCM per frame.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import WSMsgType, web

# Each audio chunk a fake sends: 10 ms, as providers stream them (and LiveKit's frames).
FRAME_MS = 10


def pcm(sample_rate: int, frames: int) -> bytes:
    """``frames`` chunks of ``FRAME_MS`` of silence, 16-bit mono."""
    return bytes(2 * sample_rate * FRAME_MS // 1000 * frames)


class Loopback:
    """An aiohttp app on 127.0.0.1 in the test's event loop; ``url`` once entered."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


class FakeAnthropic(Loopback):
    """``replies`` maps the user's last words to what the "model" does in that turn, in
    order: ``{"say": text}``, streamed in ``pieces`` text deltas, or ``{"call": name,
    "args": {...}}``, one tool use whose arguments arrive in two pieces. The step is
    chosen by how many tool results follow the user's words, as a real model carries on
    after them; past the last step the model says nothing more."""

    def __init__(self, replies: dict[str, list[dict[str, Any]]], *, pieces: int = 3) -> None:
        super().__init__()
        self.replies = replies
        self.pieces = pieces

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    def _step(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        def blocks(m: dict[str, Any]) -> list[dict[str, Any]]:
            content = m["content"]
            return [{"type": "text", "text": content}] if isinstance(content, str) else content

        said = [
            (i, b["text"])
            for i, m in enumerate(messages)
            if m["role"] == "user"
            for b in blocks(m)
            if b["type"] == "text"
        ]
        last, words = said[-1]
        results = sum(1 for m in messages[last:] for b in blocks(m) if b["type"] == "tool_result")
        steps = self.replies.get(words, [])
        return steps[results] if results < len(steps) else {"say": ""}

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        reply = self._step(body["messages"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def event(kind: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())

        usage = {"input_tokens": 12, "output_tokens": 1}
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        await event("message_start", {"type": "message_start", "message": message})
        if "say" in reply:
            text: str = reply["say"]
            block = {"type": "text", "text": ""}
            size = max(1, -(-len(text) // self.pieces))
            deltas = [
                {"type": "text_delta", "text": text[i : i + size]}
                for i in range(0, len(text), size)
            ]
            stop = "end_turn"
        else:
            block = {
                "type": "tool_use",
                "id": "toolu_fake",
                "name": reply["call"],
                "input": {},
            }
            args = json.dumps(reply.get("args", {}))
            half = len(args) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": args[:half]},
                {"type": "input_json_delta", "partial_json": args[half:]},
            ]
            stop = "tool_use"
        start = {"type": "content_block_start", "index": 0, "content_block": block}
        await event("content_block_start", start)
        for delta in deltas:
            await event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        await event("content_block_stop", {"type": "content_block_stop", "index": 0})
        end = {"stop_reason": stop, "stop_sequence": None}
        await event(
            "message_delta", {"type": "message_delta", "delta": end, "usage": {"output_tokens": 7}}
        )
        await event("message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response


class FakeElevenLabs(Loopback):
    """``frames`` frames of PCM at ``sample_rate`` for each piece of text it is sent."""

    def __init__(self, *, sample_rate: int = 16000, frames: int = 4) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.frames = frames

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/text-to-speech/{voice}/multi-stream-input", self._socket)
        app.router.add_post("/text-to-speech/{voice}/stream", self._stream)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection: dict[str, Any] = {
            "path": request.path,
            "query": dict(request.query),
            "key": request.headers.get("xi-api-key"),
            "messages": [],
        }
        self.requests.append(connection)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            connection["messages"].append(data)
            context = data["context_id"]
            if data.get("close_context"):
                await ws.send_json({"contextId": context, "isFinal": True})
            elif data.get("text", "").strip():
                audio = base64.b64encode(pcm(self.sample_rate, self.frames)).decode()
                await ws.send_json({"contextId": context, "audio": audio, "isFinal": None})
        return ws

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "key": request.headers.get("xi-api-key"),
                "body": await request.json(),
            }
        )
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await response.prepare(request)
        for _ in range(self.frames):
            await response.write(pcm(self.sample_rate, 1))
        await response.write_eof()
        return response


class FakeCartesia(Loopback):
    """``frames`` frames of PCM for each transcript it is sent, at the sample rate the
    request asks for."""

    def __init__(self, *, frames: int = 4) -> None:
        super().__init__()
        self.frames = frames

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/tts/websocket", self._socket)
        app.router.add_post("/tts/bytes", self._bytes)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection: dict[str, Any] = {
            "query": dict(request.query),
            "key": request.headers.get("X-API-Key"),
            "messages": [],
        }
        self.requests.append(connection)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            connection["messages"].append(data)
            context = data["context_id"]
            if data["transcript"].strip():
                rate = data["output_format"]["sample_rate"]
                for _ in range(self.frames):
                    chunk = base64.b64encode(pcm(rate, 1)).decode()
                    await ws.send_json({"type": "chunk", "context_id": context, "data": chunk})
            if not data.get("continue", False):
                await ws.send_json({"type": "done", "context_id": context, "done": True})
        return ws

    async def _bytes(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"key": request.headers.get("X-API-Key"), "body": body})
        rate = body["output_format"]["sample_rate"]
        return web.Response(body=pcm(rate, self.frames), content_type="audio/pcm")


class FakeAssemblyAI(Loopback):
    """A streaming session that says ``Begin``, then, once a second of 16 kHz audio has
    arrived, a final ``Turn`` of ``transcript``; ``Termination`` when told to stop."""

    SAMPLE_RATE = 16000

    def __init__(self, transcript: str) -> None:
        super().__init__()
        self.transcript = transcript
        self.received = 0  # bytes of audio

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v3/ws", self._socket)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection: dict[str, Any] = {
            "query": dict(request.query),
            "key": request.headers.get("Authorization"),
            "messages": [],
        }
        self.requests.append(connection)
        await ws.send_json({"type": "Begin", "id": "session-fake", "expires_at": 0})
        second = 2 * self.SAMPLE_RATE
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                before, self.received = self.received, self.received + len(msg.data)
                if before < second <= self.received:
                    words = [
                        {"text": w, "start": 100 * i, "end": 100 * i + 90, "confidence": 0.9}
                        for i, w in enumerate(self.transcript.split())
                    ]
                    turn = {
                        "type": "Turn",
                        "turn_order": 0,
                        "end_of_turn": True,
                        "turn_is_formatted": True,
                        "transcript": self.transcript,
                        "words": words,
                    }
                    await ws.send_json(turn)
            elif msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                connection["messages"].append(data)
                if data.get("type") == "Terminate":
                    await ws.send_json({"type": "Termination", "audio_duration_seconds": 1})
                    await ws.close()
        return ws
