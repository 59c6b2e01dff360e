"""How loaded a worker host is, for LiveKit's load function.

LiveKit asks a worker for its load (0 to 1) every half second and before answering a
job offer, and marks the worker full, so it is offered no more jobs, once the load
reaches the threshold. Its default load is the host's CPU use, averaged over 2.5 s,
full at 0.7. CPU alone trails the calls: a call just started (ringing, its greeting)
costs little until the caller speaks, and the average follows any change seconds late,
so a worker offered many calls at once takes them all before its CPU shows them. So
flowctl's load counts the calls too:

    load = max(calls / (calls_per_core x cores), cpu)

where ``calls_per_core`` is the knee measured with ``bench/capacity_bench.py`` (a load
of 1: where callers notice) and ``cpu`` is LiveKit's own measure (so a host that other
work keeps busy, or calls that cost more than the measured ones, still fill up). With
the threshold at 0.75 a host stops taking calls at three quarters of its knee, or at 75%
CPU, whichever comes first. Both are settings of the worker (``WorkerConfig``;
``flowctl worker start --calls-per-core --load-threshold``).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable

from livekit.agents.utils.hw import get_cpu_monitor

__all__ = ["CPUUse", "HostLoad"]

# LiveKit's own sampling: a reading each half second, the mean of the last five.
SAMPLE_SECONDS = 0.5
SAMPLES = 5


class CPUUse:
    """The host's CPU use (0 to 1 of every core the worker may use, cgroup limits
    included), averaged over the last 2.5 s by a background thread."""

    def __init__(self) -> None:
        self._monitor = get_cpu_monitor()
        self._samples: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def cores(self) -> float:
        return self._monitor.cpu_count()

    def __call__(self) -> float:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._sample, name="flowctl-cpu-use", daemon=True
                )
                self._thread.start()
            return sum(self._samples) / len(self._samples) if self._samples else 0.0

    def _sample(self) -> None:
        while True:
            use = self._monitor.cpu_percent(interval=SAMPLE_SECONDS)
            with self._lock:
                self._samples.append(use)


class HostLoad:
    """The worker's load function: its calls against its capacity, or its CPU use."""

    def __init__(
        self,
        calls_per_core: float,
        *,
        running: Callable[[], Iterable[str]],
        cpu: Callable[[], float],
        cores: float,
    ) -> None:
        self.capacity = calls_per_core * cores  # calls at which callers notice
        self._running = running
        self._cpu = cpu

    def __call__(self) -> float:
        calls = sum(1 for _ in self._running())
        return max(calls / self.capacity, self._cpu())
