"""What every benchmark script shares: where things are, best-of-N timing, the machine
description and writing the JSON result. Imported by the scripts beside it (run as
``python benchmarks/<name>.py``, which puts this folder on ``sys.path``)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable, TypeVar

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_REPLAYS = ROOT.parent / "shared" / "replays" / "games"

T = TypeVar("T")


def best_of(fn: Callable[[], T], repeats: int = 1) -> tuple[float, T]:
    """Run ``fn`` ``repeats`` times; the fastest wall time in seconds and the last result.
    The minimum is the least disturbed measurement on a shared machine."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def interleaved_best(fns: dict[str, Callable[[], T]], repeats: int = 1) -> dict[str, tuple[float, T]]:
    """:func:`best_of` for several steps taking turns (a, b, a, b, ...): a slow stretch
    of a shared machine falls on all of them alike, so their ratios hold. Returns, per
    key, the fastest wall time in seconds and the last result."""
    best = {key: (float("inf"), None) for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            result = fn()
            best[key] = (min(best[key][0], time.perf_counter() - start), result)
    return best


def machine(**extra) -> dict:
    """The machine a result was measured on, plus any ``extra`` fields."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        **extra,
    }


def write_json(out: str | Path, result: dict, indent: int = 1) -> Path:
    """Write ``result`` to ``out`` (folders created) and say where."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=indent))
    print(f"wrote {out}")
    return out
