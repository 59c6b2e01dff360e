"""Serving the metrics: ``GET /metrics`` on a port of its own, never the admin API's.

Tenant ids are labels, so a scrape shows every tenant's traffic: the endpoint listens on
loopback unless told otherwise (``--metrics-host``), on a port apart from the API's, and
answers nothing but ``/metrics`` (docs/security.md).

The worker's calls run in job processes LiveKit starts; each records into files of the
multiprocess directory (:func:`use_directory`, prometheus_client's multiprocess mode, as
LiveKit's own metrics do) and :func:`worker_registry` reads them all at each scrape,
summed: counters and histograms of processes that have exited stay counted, and the
running-calls gauge of a process that died (killed, out of memory) is dropped, as if
its calls had ended.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import socket
import tempfile
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from flowctl.engine.errors import FlowError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

__all__ = [
    "MULTIPROC_ENV",
    "MetricsError",
    "MetricsServer",
    "use_directory",
    "worker_registry",
]

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client's file of one process's gauges in a "live" mode: gauge_livesum_<pid>.db
_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


class MetricsError(FlowError):
    """The metrics endpoint cannot be served (its port is taken, its address is not
    this machine's)."""

    exit_code = 2


def use_directory(path: str | None = None) -> tuple[str, bool]:
    """Put this process and the processes it starts into prometheus_client's
    multiprocess mode, writing to ``path``, else to ``$PROMETHEUS_MULTIPROC_DIR``, else
    to a new temporary folder; returns the folder and whether it was made here (for the
    caller to remove). prometheus_client reads the variable once, when first imported:
    call this before anything imports it (LiveKit does)."""
    path = path or os.environ.get(MULTIPROC_ENV) or ""
    created = not path
    if created:
        path = tempfile.mkdtemp(prefix="flowctl-metrics-")
    os.makedirs(path, exist_ok=True)
    os.environ[MULTIPROC_ENV] = path
    return path, created


class _Processes:
    """Every process's files in ``path``, read at each scrape; a live gauge's file whose
    process is gone is removed first (prometheus_client's ``mark_process_dead``)."""

    def __init__(self, path: str) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self.path = path
        self._files = MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.multiprocess import mark_process_dead

        for name in glob.glob(os.path.join(self.path, "gauge_live*.db")):
            found = _LIVE_FILE.fullmatch(os.path.basename(name))
            if found is not None and not _alive(int(found.group(1))):
                mark_process_dead(int(found.group(1)), self.path)  # type: ignore[no-untyped-call]
        return self._files.collect()  # type: ignore[no-untyped-call,no-any-return]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def worker_registry(path: str | None = None) -> CollectorRegistry:
    """What the worker's endpoint serves: the files of every process in the multiprocess
    directory ``path`` (default ``$PROMETHEUS_MULTIPROC_DIR``)."""
    from prometheus_client import CollectorRegistry

    path = path or os.environ.get(MULTIPROC_ENV) or ""
    if not path or not os.path.isdir(path):
        raise MetricsError(f"the metrics directory `{path}` does not exist")
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Processes(path))
    return registry


class _Handler(BaseHTTPRequestHandler):
    registry: CollectorRegistry  # set on the subclass each server makes

    def do_GET(self) -> None:
        from prometheus_client.exposition import choose_encoder

        if self.path.split("?")[0] != "/metrics":
            self._send(404, b"Not found: the metrics are at /metrics\n", "text/plain")
            return
        encode, content_type = choose_encoder(self.headers.get("Accept", ""))
        try:
            body = encode(self.registry)
        except Exception:
            logger.exception("collecting the metrics failed")
            self._send(500, b"collecting the metrics failed\n", "text/plain")
            return
        self._send(200, body, content_type)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every 15 s is not news


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """``GET /metrics`` over ``registry`` on ``host``:``port`` (0: any free port), in a
    thread of its own: the worker's event loop belongs to LiveKit, the API's to
    uvicorn, and a scrape waits for neither."""

    def __init__(self, registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> MetricsServer:
        """Listen and serve; raises :class:`MetricsError` when the address cannot be
        bound."""
        handler = type("Handler", (_Handler,), {"registry": self.registry})
        server_class = _Server6 if ":" in self.host else _Server
        try:
            self._server = server_class((self.host, self.port), handler)
        except (OSError, OverflowError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise MetricsError(
                f"cannot serve metrics on {self.host}:{self.port}: {reason}"
            ) from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="flowctl.metrics", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
