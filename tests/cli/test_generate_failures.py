"""What `wanbot generate` says when ComfyUI fails: one plain line that says what to do, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli._wanbot import ROOT, wanbot
from tests.fakes.comfyui import FakeComfyUI

_SCALED = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("wanbot: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


async def test_out_of_memory_says_what_to_change(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.001, fail_execution=1, failure_kind="oom") as fake:
        code, _, err = await wanbot("generate", "cat", "--comfyui", fake.url, cwd=tmp_path)
    assert code == 1
    assert _one_line(err) == (f"wanbot: out of GPU memory on {fake.url}: choose a smaller size or a shorter "
                              "duration (OutOfMemoryError in WanVideoSampler, node 6)")
    assert not (tmp_path / "out.mp4").exists()


async def test_the_scaled_t5_in_the_wrapper_graph_names_the_file_to_use(tmp_path: Path) -> None:
    spec = json.loads((ROOT / "bot" / "workflows" / "builtin" / "wan-wrapper.json").read_text("utf-8"))
    spec["workflow"]["1"]["inputs"]["model_name"] = _SCALED  # what the core graph uses, wrongly
    (tmp_path / "scaled.json").write_text(json.dumps(spec), "utf-8")
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        assert _SCALED in fake.models["text_encoders"]  # installed: it passes validation, fails to load
        code, _, err = await wanbot("generate", "cat", "--workflow", "scaled.json", "--comfyui", fake.url,
                                    cwd=tmp_path)
    assert code == 1
    line = _one_line(err)
    assert f"text encoder {_SCALED!r} on {fake.url}" in line
    assert 'fp8 "scaled"' in line and "LoadWanVideoT5TextEncoder cannot read" in line
    assert 'non-"scaled" umt5-xxl-enc-bf16.safetensors' in line and "models/text_encoders" in line


async def test_a_corrupt_model_file_is_named(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.001, fail_execution=1, failure_kind="model_load") as fake:
        code, _, err = await wanbot("generate", "cat", "--comfyui", fake.url, cwd=tmp_path)
        error = next(e.data for e in fake.events if e.type == "execution_error")
    assert code == 1
    line = _one_line(err)
    (broken,) = [v for v in fake.accepted[0].prompt[error["node_id"]]["inputs"].values()
                 if str(v).endswith(".safetensors")]
    assert f"model file {broken!r} on {fake.url} is damaged or incomplete" in line
    assert "header too small" in line and "download it again" in line
