"""Shared bits of the benchmarks: percentiles and the table + JSON-last-line report."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Benchmarks run as scripts (`python bench/x.py`); make the repo importable.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {"median_ms": round(statistics.median(ms), 2), "p90_ms": round(percentile(ms, 90), 2),
            "p99_ms": round(percentile(ms, 99), 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2)}


def report(bench: str, title: str, rows: list[tuple[str, str, str, str]], figures: dict[str, Any]) -> None:
    """Print a readable table (metric, value, target, verdict), then, last, one JSON line with
    the figures under the bench's name."""
    header = ("metric", "value", "target", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(title)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    print(json.dumps({"bench": bench, **figures}))


class TimedHistory(dict):  # type: ignore[type-arg]
    """Stands in for the ComfyUI emulator's history dict, noting when each prompt's entry is
    written: the moment "history is ready" that the latency benches measure from."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.written: dict[str, float] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.written[key] = time.monotonic()

    @classmethod
    def install(cls, fake: Any) -> "TimedHistory":
        """Swap it into a running FakeComfyUI's queue; returns it."""
        history = cls(fake.queue.history)
        fake.queue.history = history
        return history
