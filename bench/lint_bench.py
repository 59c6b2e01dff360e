"""Lint performance against the targets of design.md (issue 2).

    .venv/bin/python bench/lint_bench.py [--quick] [--hostile[=PATTERN,...]]

Prints medians, never asserts: figures go in the closing note, not in timed tests.

1. `flowctl lint flows/` cold, whole process (target: median under 150 ms), beside the
   bare interpreter start-up measured the same way, in the same run.
2. A generated 5,000-state flow (target: under 1 s, read + decode + every rule).
3. 1,000 generated 20-state flows in one folder (target: under 2 s).
4. How time grows from 500 to 5,000 states (target: linear): per-state cost and the
   log-log slope (1.0 is linear, 2.0 quadratic).
5. Hostile flows (issue 12), one per pattern that once made a rule quadratic or worse
   (bench/adversarial.py): lint time of each at 1 MiB (target: under 1 s) and how it
   grows from 256 KiB (target: linear, x4).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from adversarial import PATTERNS, adversarial  # noqa: E402
from genflow import generate  # noqa: E402
from timing import time_calls  # noqa: E402

from flowctl.engine.lint import Selection, check, lint_paths  # noqa: E402
from flowctl.engine.load import load_bytes  # noqa: E402

FLOWCTL = Path(sys.executable).parent / "flowctl"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _process(args: list[str], repeat: int) -> list[float]:
    subprocess.run(args, capture_output=True, cwd=ROOT)  # warm the page cache and .pyc
    return time_calls(lambda: subprocess.run(args, capture_output=True, cwd=ROOT), repeat)


def bench_cold(repeat: int) -> None:
    baseline = _process([sys.executable, "-c", "pass"], repeat)
    lint = _process([str(FLOWCTL), "lint", "flows/"], repeat)
    b, m = _median_ms(baseline), _median_ms(lint)
    p90 = sorted(lint)[int(len(lint) * 0.9) - 1] * 1000
    print(f"1. flowctl lint flows/ cold, whole process ({repeat} runs)")
    print(
        f"   median {m:.1f} ms, p90 {p90:.1f} ms   target < 150 ms   {'OK' if m < 150 else 'MISS'}"
    )
    print(
        f"   bare `python -c pass`: median {b:.1f} ms; flowctl adds {m - b:.1f} ms ({m / b:.2f}x)"
    )


def _write(tmp: Path, name: str, states: int, seed: int = 0) -> Path:
    path = tmp / name
    path.write_text(json.dumps(generate(states, seed=seed), indent=2))
    return path


def _lint(paths: list[Path]) -> None:
    result = lint_paths(paths, Selection())
    assert result.exit_code == 0, [x.finding.text for f in result.files for x in f.findings][:3]


def bench_big(tmp: Path, repeat: int) -> None:
    path = _write(tmp, "big.json", 5000)
    size = path.stat().st_size / 1024 / 1024
    samples = time_calls(lambda: _lint([path]), repeat)
    m = _median_ms(samples)
    print(f"2. one 5,000-state flow ({size:.1f} MiB), in process ({repeat} runs)")
    print(f"   median {m:.0f} ms   target < 1000 ms   {'OK' if m < 1000 else 'MISS'}")
    whole = _median_ms(_process([str(FLOWCTL), "lint", str(path)], max(repeat // 2, 1)))
    print(f"   whole process, cold: median {whole:.0f} ms")


def bench_many(tmp: Path, repeat: int, count: int) -> None:
    folder = tmp / "many"
    folder.mkdir()
    for i in range(count):
        _write(folder, f"flow_{i:04d}.json", 20, seed=i)
    samples = time_calls(lambda: _lint([folder]), repeat)
    m = _median_ms(samples)
    print(f"3. {count:,} 20-state flows in one folder, in process ({repeat} runs)")
    print(
        f"   median {m:.0f} ms ({m / count * 1000:.0f} us a flow)   target < 2000 ms   "
        f"{'OK' if m < 2000 else 'MISS'}"
    )
    whole = _median_ms(_process([str(FLOWCTL), "lint", str(folder)], max(repeat // 2, 1)))
    print(f"   whole process, cold: median {whole:.0f} ms")


def bench_scaling(tmp: Path, repeat: int) -> None:
    print(f"4. growth from 500 to 5,000 states (median of {repeat})")
    sizes = [500, 1000, 2000, 3000, 4000, 5000]
    points = []
    for n in sizes:
        path = _write(tmp, f"scale_{n}.json", n)
        doc = json.loads(path.read_text())
        elements = len(doc["agents"]) + sum(len(a.get("edges", [])) for a in doc["agents"])
        m = _median_ms(time_calls(lambda p=path: _lint([p]), repeat))
        points.append((elements, m))
        print(
            f"   {n:>5} states, {elements:>6} states+edges: {m:7.1f} ms  "
            f"({m / elements * 1000:.1f} us per state or edge)"
        )
    xs = [math.log(e) for e, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    ratio = points[-1][1] / points[0][1]
    size_ratio = points[-1][0] / points[0][0]
    print(f"   wall time x{ratio:.1f} for size x{size_ratio:.1f}; log-log slope {slope:.2f}")
    # Wall time also measures the memory hierarchy: a 5,000-state flow's objects no
    # longer fit the CPU caches. Counting Python calls measures the algorithm alone.
    calls = [_calls(tmp / f"scale_{n}.json") for n in (sizes[0], sizes[-1])]
    call_ratio = calls[1] / calls[0]
    verdict = "OK (linear)" if call_ratio < size_ratio * 1.05 else "MISS"
    print(
        f"   Python function calls: {calls[0]:,} -> {calls[1]:,}, x{call_ratio:.2f} "
        f"for size x{size_ratio:.1f}   {verdict}"
    )


def _calls(path: Path) -> int:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(_lint, [path])
    return pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]


def _cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU time of ``fn`` in ms: lint is one thread, and on a shared machine the
    wall clock also counts the neighbours."""
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples) * 1000


def bench_hostile(repeat: int, only: list[str]) -> None:
    small, large = 256 * 1024, 1024 * 1024
    print(
        f"5. hostile flows, in process, read + decode + every rule (CPU time, median of {repeat})"
    )
    print(f"   {'pattern':<22} {'1 MiB':>8} {'256 KiB':>8} {'growth':>7} findings")
    worst = 0.0
    for name in only or PATTERNS:
        timings = {}
        for size in (small, large):
            data = adversarial(name, size)
            found = len(check(load_bytes(data, "hostile.json")))  # warm, and count
            ms = _cpu_ms(lambda d=data: check(load_bytes(d, "hostile.json")), repeat)
            timings[size] = (len(data), ms)
        (n_small, t_small), (n_large, t_large) = timings[small], timings[large]
        growth = (t_large / t_small) / (n_large / n_small) * 4  # per 4x the bytes
        worst = max(worst, t_large)
        verdict = "OK" if t_large < 1000 and growth < 6 else "MISS"
        print(
            f"   {name:<22} {t_large:6.0f} ms {t_small:6.0f} ms {growth:6.1f}x {found:>8,}"
            f"   {verdict}"
        )
    print(f"   slowest at 1 MiB: {worst:.0f} ms   target < 1000 ms, growth x4 (linear)")


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 5 if quick else 21
    hostile = [a.removeprefix("--hostile=") for a in sys.argv if a.startswith("--hostile=")]
    if hostile or "--hostile" in sys.argv:  # only part 5, for some patterns or all
        bench_hostile(5, [n for h in hostile for n in h.split(",") if n])
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bench_cold(repeat)
        bench_big(tmp, 3 if quick else 7)
        bench_many(tmp, 3 if quick else 5, 200 if quick else 1000)
        bench_scaling(tmp, 3 if quick else 5)
    bench_hostile(5, [])


if __name__ == "__main__":
    main()
