"""The emulator's knobs for a mixed cluster: which templates a server can run (its installed
model files), the VRAM it reports, and the models it keeps loaded between prompts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.workflows import load_template
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes_tests.test_comfyui_emulator import REPO, post_prompt, run_job

BIG_MODEL = "Wan2_1-T2V-14B_fp8_e4m3fn.safetensors"
SMALL_MODEL = "Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def graph(name: str, seed: int = 1) -> dict[str, Any]:
    return load_template(name).render({"prompt": "a cat", "seed": seed, "frames": 5})


def cached_nodes(messages: list[dict[str, Any]]) -> list[str]:
    (cached,) = [m["data"]["nodes"] for m in messages if m["type"] == "execution_cached"]
    return cached


async def test_a_server_without_the_14b_file_refuses_the_14b_template_like_comfyui(
        http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI() as fake:
        fake.models = {folder: [n for n in names if n != BIG_MODEL] for folder, names in fake.models.items()}
        async with http.get(f"{fake.url}/models/diffusion_models") as resp:
            assert BIG_MODEL not in await resp.json()
        status, body = await post_prompt(http, fake.url, graph("wan-wrapper-14b"))
        assert status == 400 and body["error"]["type"] == "prompt_outputs_failed_validation"
        (error,) = body["node_errors"]["3"]["errors"]
        assert error["type"] == "value_not_in_list" and BIG_MODEL in error["details"]
        status, _ = await post_prompt(http, fake.url, graph("wan-wrapper"))
        assert status == 200


async def test_vram_gb_reports_one_cuda_gpu(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(vram_gb=12) as fake:
        async with http.get(f"{fake.url}/system_stats") as resp:
            (device,) = (await resp.json())["devices"]
    assert device["type"] == "cuda" and device["vram_total"] == 12_000_000_000
    assert device["name"].startswith("cuda:0 NVIDIA") and 0 < device["vram_free"] < device["vram_total"]


async def test_kept_models_are_cached_and_a_switch_loads_only_what_changed(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(keep_models=True, steps=1, step_seconds=0.0) as fake:
        _, first = await run_job(http, fake, graph("wan-wrapper", 1))
        _, same = await run_job(http, fake, graph("wan-wrapper", 2))
        _, switched = await run_job(http, fake, graph("wan-wrapper-14b", 3))
        assert sorted(fake.executor.loads[:3]) == sorted(
            ["umt5-xxl-enc-bf16.safetensors", SMALL_MODEL, "Wan2_1_VAE_bf16.safetensors"])
        assert fake.executor.loads[3:] == [BIG_MODEL]
        await fake.restart()
        _, after_restart = await run_job(http, fake, graph("wan-wrapper-14b", 4))
    assert cached_nodes(first) == []
    assert sorted(cached_nodes(same)) == ["1", "3", "5"]  # the T5, the model and the VAE loaders
    assert sorted(cached_nodes(switched)) == ["1", "5"]  # only the diffusion model is reloaded
    assert "3" not in [m["data"]["node"] for m in same if m["type"] == "executing"]
    assert cached_nodes(after_restart) == []  # a new process has nothing loaded


async def test_a_load_costs_its_time_and_a_cached_model_costs_none(http: aiohttp.ClientSession) -> None:
    costs = {BIG_MODEL: 0.4}
    async with FakeComfyUI(keep_models=True, load_costs=costs, steps=1, step_seconds=0.0) as fake:
        _, first = await run_job(http, fake, graph("wan-wrapper-14b", 1))
        _, second = await run_job(http, fake, graph("wan-wrapper-14b", 2))
    assert _elapsed(first) >= 0.4 > _elapsed(second)


async def test_model_step_seconds_slows_the_sampler_of_that_model(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.0, model_step_seconds={BIG_MODEL: 0.2}) as fake:
        _, small = await run_job(http, fake, graph("wan-wrapper"))
        _, big = await run_job(http, fake, graph("wan-wrapper-14b"))
    assert _elapsed(small) < 0.4 <= _elapsed(big)


def _elapsed(messages: list[dict[str, Any]]) -> float:
    """Seconds from execution_start to execution_success, by the server's own timestamps."""
    stamps = {m["type"]: m["data"]["timestamp"] for m in messages
              if m["type"] in ("execution_start", "execution_success")}
    return (stamps["execution_success"] - stamps["execution_start"]) / 1000


async def test_the_standalone_emulator_takes_the_cluster_flags(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.comfyui", "--port", "0", "--root", str(tmp_path), "--vram-gb", "12",
        "--without-model", BIG_MODEL, "--keep-models", "--load-cost", f"{SMALL_MODEL}=0.5", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()[-1]
        async with http.get(f"{url}/models/diffusion_models") as resp:
            installed = await resp.json()
        async with http.get(f"{url}/system_stats") as resp:
            (device,) = (await resp.json())["devices"]
        assert SMALL_MODEL in installed and BIG_MODEL not in installed
        assert device["vram_total"] == 12_000_000_000
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
