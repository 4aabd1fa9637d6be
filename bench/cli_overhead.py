"""Whole-process overhead of `wanbot generate` next to the seed document's own client.

Both run as processes against the same ComfyUI emulator (itself a process, `python -m
tests.fakes.comfyui`), on the same job: the wan-wrapper graph with the same prompt, seed and
size, on a model-free fast server (no model loading; the sampler's steps are the whole render,
about `--render-seconds`). The seed's client (bench/_seed_client.py) is ComfyUI's API example as
a loop: POST /prompt, then /queue + /history every 10 s until done, then GET /view.

Overhead = the process's wall time minus the server's own render time (from the prompt's
execution_start to its execution_success, as the server's history records them). It is what
the person at the terminal waits for beyond the GPU's work: start-up, imports, requests, the
polling gap, the download, exit. Target: wanbot's median overhead at least 50x smaller.

    .venv/bin/python bench/cli_overhead.py [--runs 20] [--seed-runs 5] [--render-seconds 1.0]

Next to both, the floor: a process that only imports what any aiohttp + pydantic client must
(`asyncio`, `aiohttp`, `pydantic`, `pydantic_settings`) and exits. wanbot cannot go below it
without leaving the design card's libraries, so it says how much of the overhead is ours.

Prints a table, then, as the very last line, one JSON object with the figures. Figures, not a
pass/fail test: the exit status is 0 even if the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import ROOT, report, summary_ms

from bot.workflows import VideoRequest, load_template

RATIO_TARGET = 50.0
STEPS = 4
JOB = {"prompt": "a red fox running through fresh snow", "seed": 42, "frames": 17}
PROCESS_TIMEOUT = 60.0


@dataclass(frozen=True)
class Run:
    wall_s: float
    render_s: float

    @property
    def overhead_s(self) -> float:
        return self.wall_s - self.render_s


def _env() -> dict[str, str]:
    """No operator settings leak in (the server is given on the command line), and compiled
    bytecode is kept as an installed package has it (pip compiles it at install time): without
    it every run would compile wanbot's modules from source again."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COMFYUI_", "WANBOT_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


class Emulator:
    """The ComfyUI emulator as its own process, so that it never shares a CPU core's time
    slices with the clients in a way one process would not."""

    def __init__(self, root: Path, step_seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.comfyui", "--port", "0", "--root", str(root),
             "--steps", str(STEPS), "--step-seconds", str(step_seconds), "--history-delay", "0.005"],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self._listening(timeout=30.0)

    def _listening(self, timeout: float) -> str:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not line or not line[0].startswith("listening on "):
            self.stop()
            raise SystemExit(f"the emulator did not start within {timeout:.0f} s")
        return line[0].split("listening on ", 1)[1].strip()

    def render_seconds(self, prompt_id: str) -> float:
        """execution_start to execution_success, from the server's own history."""
        with urllib.request.urlopen(f"{self.url}/history/{prompt_id}", timeout=10) as resp:
            entry = json.load(resp)[prompt_id]
        stamps = {kind: data["timestamp"] for kind, data in entry["status"]["messages"]}
        return (stamps["execution_success"] - stamps["execution_start"]) / 1000

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _timed(command: list[str], cwd: Path) -> tuple[float, dict[str, Any]]:
    """Wall time of one process and the JSON of its last stdout line."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def _wanbot(emulator: Emulator, folder: Path) -> Run:
    command = [sys.executable, "-m", "bot", "generate", JOB["prompt"], "--seed", str(JOB["seed"]),
               "--frames", str(JOB["frames"]), "--comfyui", emulator.url, "-o", "wanbot.mp4", "--json"]
    wall, result = _timed(command, folder)
    assert result["bytes"] > 0
    return Run(wall, emulator.render_seconds(result["prompt_id"]))


def _seed(emulator: Emulator, folder: Path, graph_file: Path) -> Run:
    command = [sys.executable, str(ROOT / "bench" / "_seed_client.py"), emulator.url, str(graph_file), "seed.mp4"]
    wall, result = _timed(command, folder)
    assert result["bytes"] > 0
    return Run(wall, emulator.render_seconds(result["prompt_id"]))


# The collector off and frozen, as wanbot does it: what is left is the imports themselves.
FLOOR_IMPORTS = "import gc; gc.disable(); import asyncio, aiohttp, pydantic, pydantic_settings; gc.freeze()"


def _floor(folder: Path) -> float:
    """Wall time of a process that only imports the client's libraries."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", FLOOR_IMPORTS], cwd=folder, env=_env(), check=True,
                   timeout=PROCESS_TIMEOUT)
    return time.perf_counter() - started


def _same_graph(folder: Path) -> Path:
    """The graph `wanbot generate` sends for JOB, for the seed's client to send as it is."""
    template = load_template("wan-wrapper")
    graph = template.render(VideoRequest.build(template, **JOB).to_params())
    path = folder / "graph.json"
    path.write_text(json.dumps(graph), "utf-8")
    return path


def _bench(runs: int, seed_runs: int, render_seconds: float) -> tuple[list[Run], list[Run], list[float]]:
    ours: list[Run] = []
    theirs: list[Run] = []
    floors: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "server").mkdir()
        graph_file = _same_graph(folder)
        emulator = Emulator(folder / "server", render_seconds / STEPS)
        try:
            _wanbot(emulator, folder)  # warm-up: .pyc files written, page cache filled
            for i in range(max(runs, seed_runs)):  # interleaved, so both meet the same machine
                if i < runs:
                    ours.append(_wanbot(emulator, folder))
                    floors.append(_floor(folder))
                if i < seed_runs:
                    theirs.append(_seed(emulator, folder, graph_file))
        finally:
            emulator.stop()
    return ours, theirs, floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="wanbot generate runs")
    parser.add_argument("--seed-runs", type=int, default=5, help="seed client runs (about 10 s each)")
    parser.add_argument("--render-seconds", type=float, default=1.0, help="the server's render time per job")
    args = parser.parse_args()
    ours, theirs, floors = _bench(args.runs, args.seed_runs, args.render_seconds)
    wanbot = summary_ms([r.overhead_s for r in ours])
    floor = summary_ms(floors)
    seed = summary_ms([r.overhead_s for r in theirs])
    render = statistics.median(r.render_s for r in ours + theirs)
    ratio = seed["median_ms"] / wanbot["median_ms"]
    ratio_p99 = seed["p99_ms"] / wanbot["p99_ms"]
    verdict = "ok" if ratio >= RATIO_TARGET else "MISSED"
    rows = [
        ("wanbot generate overhead, median", f"{wanbot['median_ms']:.0f} ms", "", ""),
        ("wanbot generate overhead, p99", f"{wanbot['p99_ms']:.0f} ms", "", ""),
        ("seed client overhead, median", f"{seed['median_ms']:.0f} ms", "", ""),
        ("seed client overhead, p99", f"{seed['p99_ms']:.0f} ms", "", ""),
        ("ratio (seed / wanbot), median", f"{ratio:.1f}x", f">= {RATIO_TARGET:.0f}x", verdict),
        ("ratio (seed / wanbot), p99", f"{ratio_p99:.1f}x", "", ""),
        ("floor: importing aiohttp + pydantic, median", f"{floor['median_ms']:.0f} ms", "", ""),
        ("best ratio any such client reaches", f"{seed['median_ms'] / floor['median_ms']:.1f}x", "", ""),
        ("server render time per job, median", f"{render * 1000:.0f} ms", "", ""),
    ]
    title = f"cli_overhead: {len(ours)} wanbot runs, {len(theirs)} seed runs, same job on the emulator (process)"
    report("cli_overhead", title, rows, {
        "runs": len(ours), "seed_runs": len(theirs), "render_ms_median": round(render * 1000, 1),
        "wanbot": wanbot, "seed": seed, "library_floor": floor,
        "ratio_median": round(ratio, 1), "ratio_p99": round(ratio_p99, 1), "target_ratio": RATIO_TARGET})


if __name__ == "__main__":
    main()
