"""`wanbot generate` and `wanbot check` as an operator runs them, against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli._wanbot import wanbot
from tests.fakes.comfyui import FakeComfyUI


async def test_generate_writes_the_mp4_and_reports_json(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=3, step_seconds=0.01) as fake:
        code, out, err = await wanbot("generate", "一只猫在雨中跳舞", "-o", "cat.mp4", "--seed", "42",
                                       "--frames", "33", "--comfyui", fake.url, "--json", cwd=tmp_path)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["seed"] == 42 and summary["output"] == "cat.mp4"
    data = (tmp_path / "cat.mp4").read_bytes()
    assert summary["bytes"] == len(data) and data[4:8] == b"ftyp"
    assert {"prompt_id", "queued_s", "running_s", "download_s"} <= summary.keys()
    assert "sampling 3/3" in err  # the progress display on stderr
    (accepted,) = fake.accepted
    sampler = next(n for n in accepted.prompt.values() if n["class_type"] == "WanVideoSampler")
    assert sampler["inputs"]["seed"] == 42


async def test_generate_with_native_template_and_random_seed_reported(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        code, out, err = await wanbot("generate", "a cat dancing in the rain", "--workflow", "wan-native",
                                       "--comfyui", fake.url, "--json", cwd=tmp_path)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert isinstance(summary["seed"], int)
    assert (tmp_path / "out.mp4").exists()


async def test_generate_bad_input_exits_2_with_the_reason(tmp_path: Path) -> None:
    code, _, err = await wanbot("generate", "cat", "--frames", "80", "--comfyui", "http://127.0.0.1:9",
                                 cwd=tmp_path)
    assert code == 2
    assert "4k+1" in err and "81" in err and "Traceback" not in err


async def test_generate_failure_exits_1_with_plain_reason(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01, fail_execution=1, failure_kind="oom") as fake:
        code, _, err = await wanbot("generate", "cat", "--comfyui", fake.url, cwd=tmp_path)
    assert code == 1
    assert "OutOfMemory" in err and "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists()


async def test_generate_refuses_early_when_the_backend_lacks_a_model(tmp_path: Path) -> None:
    async with FakeComfyUI() as fake:
        fake.models = {**fake.models, "vae": []}
        code, _, err = await wanbot("generate", "cat", "--comfyui", fake.url, cwd=tmp_path)
        assert not fake.accepted  # nothing was queued on the GPU
    assert code == 1
    assert "Wan2_1_VAE_bf16.safetensors" in err and "models/vae" in err


async def test_check_passes_a_complete_backend_and_names_what_another_lacks(tmp_path: Path) -> None:
    async with FakeComfyUI() as good, FakeComfyUI() as bad:
        bad.models = {**bad.models, "text_encoders": []}  # (re-derives object_info: set it first)
        bad.object_info = {k: v for k, v in bad.object_info.items() if not k.startswith("WanVideo")}
        code, out, _ = await wanbot("check", "--comfyui", good.url, "--comfyui", bad.url, cwd=tmp_path)
        ok_code, ok_out, _ = await wanbot("check", "--comfyui", good.url, cwd=tmp_path)
    assert ok_code == 0 and "1 of 1 backend(s) can run wan-wrapper" in ok_out
    assert code == 1
    assert "MISSING" in out and "0.8.0" in out
    # Each missing pack once, with where to get it; not one line per node it provides.
    (pack_line,) = [line for line in out.splitlines() if "ComfyUI-WanVideoWrapper" in line]
    assert "https://github.com/kijai/ComfyUI-WanVideoWrapper" in pack_line
    assert "WanVideoSampler" in pack_line and bad.url in pack_line
    assert "'umt5-xxl-enc-bf16.safetensors' not found in models/text_encoders" in out
    assert "1 of 2 backend(s)" in out


async def test_check_resolves_models_kept_in_a_subfolder(tmp_path: Path) -> None:
    async with FakeComfyUI() as fake:
        fake.models = {folder: [f"wan2.1/{name}" for name in names if "/" not in name]
                       for folder, names in fake.models.items()}
        code, out, _ = await wanbot("check", "--comfyui", fake.url, cwd=tmp_path)
        assert code == 0, out
        assert "found as 'wan2.1/Wan2_1_VAE_bf16.safetensors'" in out
        # ...and a job really runs there: the graph is sent with the server's own paths.
        code, _, err = await wanbot("generate", "cat", "--comfyui", fake.url, cwd=tmp_path)
        assert code == 0, err
        (accepted,) = fake.accepted
        assert accepted.prompt["5"]["inputs"]["model_name"] == "wan2.1/Wan2_1_VAE_bf16.safetensors"


async def test_check_says_when_a_model_name_is_ambiguous(tmp_path: Path) -> None:
    async with FakeComfyUI() as fake:
        fake.models = {**fake.models, "vae": ["a/Wan2_1_VAE_bf16.safetensors", "b/Wan2_1_VAE_bf16.safetensors"]}
        code, out, _ = await wanbot("check", "--comfyui", fake.url, cwd=tmp_path)
    assert code == 1
    assert "'a/Wan2_1_VAE_bf16.safetensors', 'b/Wan2_1_VAE_bf16.safetensors'" in out


async def test_check_unreachable_backend(tmp_path: Path) -> None:
    code, out, _ = await wanbot("check", "--comfyui", "http://127.0.0.1:9", cwd=tmp_path)
    assert code == 1
    assert "UNREACHABLE" in out and "is not answering" in out


async def test_check_checks_every_configured_workflow(tmp_path: Path) -> None:
    both = {"WANBOT_WORKFLOW": "wan-wrapper, wan-native"}
    async with FakeComfyUI() as full, FakeComfyUI() as wrapper_only:
        wrapper_only.models = {folder: [n for n in names if "wan2.1_t2v" not in n and "wan_2.1_vae" not in n]
                               for folder, names in wrapper_only.models.items()}
        ok = await wanbot("check", "--comfyui", full.url, cwd=tmp_path, env=both)
        mixed = await wanbot("check", "--comfyui", full.url, "--comfyui", wrapper_only.url, cwd=tmp_path, env=both)
    assert ok.code == 0, ok.out + ok.err
    assert "wan-wrapper" in ok.out and "wan-native" in ok.out
    assert "1 of 1 backend(s) can run wan-wrapper and wan-native" in ok.out
    # A mixed cluster works (each backend gets the jobs it can run): every workflow runs somewhere.
    assert mixed.code == 0, mixed.out + mixed.err
    (row,) = [line for line in mixed.out.splitlines() if line.startswith(wrapper_only.url)]
    assert row.split()[-2:] == ["OK", "MISSING"]  # one column per workflow, in the configured order
    assert f"{wrapper_only.url}: wan-native: model file 'wan2.1_t2v_1.3B_fp16.safetensors' not found" in mixed.out
    assert "1 of 2 backend(s) can run wan-wrapper and wan-native" in mixed.out
    assert "2 of 2 backend(s) can run wan-wrapper" in mixed.out and "1 of 2 backend(s) can run wan-native" in mixed.out


async def test_check_says_which_gpu_has_too_little_vram_and_fails_a_workflow_nobody_runs(tmp_path: Path) -> None:
    both = {"WANBOT_WORKFLOW": "wan-wrapper,wan-wrapper-14b"}
    async with FakeComfyUI(vram_gb=12) as twelve:
        run = await wanbot("check", "--comfyui", twelve.url, cwd=tmp_path, env=both)
    assert run.code == 1, run.out + run.err  # nobody can run the 14B workflow
    (row,) = [line for line in run.out.splitlines() if line.startswith(twelve.url)]
    assert row.split()[-3:] == ["OK", "LOW", "VRAM"]
    assert (f"{twelve.url}: wan-wrapper-14b: needs 24 GB of VRAM; this GPU "
            "(cuda:0 NVIDIA GeForce RTX (12 GB) : cudaMallocAsync) has 12.0 GB") in run.out
    assert "0 of 1 backend(s) can run wan-wrapper-14b" in run.out


async def test_check_with_a_workflow_flag_checks_only_that_one(tmp_path: Path) -> None:
    async with FakeComfyUI() as fake:
        run = await wanbot("check", "--comfyui", fake.url, "--workflow", "wan-native", cwd=tmp_path,
                           env={"WANBOT_WORKFLOW": "wan-wrapper,./missing.json"})
    assert run.code == 0, run.out + run.err
    assert "1 of 1 backend(s) can run wan-native" in run.out and "wan-wrapper" not in run.out


async def test_check_with_a_broken_template_is_a_configuration_error(tmp_path: Path) -> None:
    run = await wanbot("check", "--workflow", "wan-native,nope", "--comfyui", "http://127.0.0.1:9", cwd=tmp_path)
    assert run.code == 2
    assert run.err == ("wanbot: template 'nope': no such file, and not a built-in template "
                       "(wan-wrapper, wan-native, wan-wrapper-14b, wan-native-14b, wan-wrapper-i2v, wan-native-i2v)\n")
    assert run.out == ""


async def test_check_covers_the_image_to_video_templates(tmp_path: Path) -> None:
    i2v = {"WANBOT_WORKFLOW": "wan-native-i2v,wan-wrapper-i2v"}
    async with FakeComfyUI() as full, FakeComfyUI() as old:
        # A server without the CLIP vision model, and with a WanVideoWrapper from before its
        # image-to-video encoder (March 2025, like the captured one).
        old.models = {**old.models, "clip_vision": []}
        old.object_info = {k: v for k, v in old.object_info.items() if k != "WanVideoImageToVideoEncode"}
        ok = await wanbot("check", "--comfyui", full.url, cwd=tmp_path, env=i2v)
        lacking = await wanbot("check", "--comfyui", old.url, cwd=tmp_path, env=i2v)
    assert ok.code == 0, ok.out + ok.err
    assert "1 of 1 backend(s) can run wan-native-i2v and wan-wrapper-i2v" in ok.out
    assert lacking.code == 1
    assert (f"{old.url}: wan-native-i2v: model file 'clip_vision_h.safetensors' not found in models/clip_vision "
            "(CLIPVisionLoader.clip_name, node 7)") in lacking.out
    assert (f"{old.url}: wan-wrapper-i2v: node WanVideoImageToVideoEncode missing: install the "
            "ComfyUI-WanVideoWrapper node pack") in lacking.out
