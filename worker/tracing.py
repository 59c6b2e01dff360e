"""LiveKit's OpenTelemetry spans, on or off per session (the flow's ``tracing`` block).

Whether a session is traced is the engine's call (``flowctl.engine.tracing.traced``: enabled,
and sampled by a stable hash of the session id). A traced session installs a tracer
provider that exports LiveKit's spans (turns, LLM, STT and TTS requests, tool calls)
over OTLP to wherever the standard OpenTelemetry variables point
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``; Langfuse, Jaeger,
Honeycomb... take OTLP). Every span carries the tenant, flow, version and session.

LiveKit keeps one tracer provider per process. A job runs in a process of its own
(LiveKit's default), so this is per session; with the thread executor, concurrent
sessions share the last one installed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["EXPORTER_HINT", "SessionTracing", "exporter_problem"]

logger = logging.getLogger(__name__)

EXPORTER_HINT = (
    "tracing needs the OpenTelemetry SDK and OTLP exporter: "
    "pip install opentelemetry-sdk opentelemetry-exporter-otlp"
)

_installed: Any = None  # the provider this process installed last, if any


def exporter_problem() -> str | None:
    """None when spans can be exported, else what to install."""
    try:
        import opentelemetry.sdk.trace

        if _protocol() == "grpc":
            import opentelemetry.exporter.otlp.proto.grpc.trace_exporter
        else:
            import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
    except ImportError:
        return EXPORTER_HINT
    return None


def _protocol() -> str:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    return "grpc" if protocol == "grpc" else "http"


class SessionTracing:
    """The tracer provider of one traced session."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @classmethod
    def start(cls, attributes: Mapping[str, str]) -> SessionTracing | None:
        """Export this session's spans; None (with a warning) when the exporter is
        not installed."""
        global _installed
        problem = exporter_problem()
        if problem is not None:
            logger.warning("the session is not traced: %s", problem)
            return None
        from livekit.agents.telemetry import set_tracer_provider
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

        exporter: SpanExporter
        if _protocol() == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            exporter = GrpcExporter()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpExporter,
            )

            exporter = HttpExporter()

        provider = TracerProvider(resource=Resource.create({"service.name": "flowctl-worker"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        set_tracer_provider(provider, metadata={f"flowctl.{k}": v for k, v in attributes.items()})
        _installed = provider
        return cls(provider)

    @staticmethod
    def off() -> None:
        """This session is not traced: stop exporting if an earlier session of this
        process was."""
        global _installed
        if _installed is None:
            return
        from livekit.agents.telemetry import set_tracer_provider
        from opentelemetry import trace

        set_tracer_provider(trace.NoOpTracerProvider())
        _installed = None

    async def stop(self) -> None:
        """Export what is left (off the event loop: exporting is blocking I/O)."""
        await asyncio.to_thread(self.provider.shutdown)
