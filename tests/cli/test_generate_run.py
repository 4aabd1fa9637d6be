"""How `wanbot generate` runs: what it shows while it waits, what it asks the server, what it
imports, and how it copes with a server that keeps models in a subfolder."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.cli._wanbot import wanbot
from tests.fakes.comfyui import FakeComfyUI

_NODE_CLASS = re.compile(r"WanVideo|VHS_|KSampler|Loader|SaveVideo|CreateVideo|CLIPText")


async def test_progress_names_stages_with_percentage_elapsed_and_eta(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=3, step_seconds=0.01) as fake:
        code, out, err = await wanbot("generate", "cat", "--frames", "5", "--json", "--comfyui", fake.url,
                                      cwd=tmp_path)
    assert code == 0, err
    (line,) = out.splitlines()  # stdout holds the JSON line and nothing else
    assert json.loads(line)["output"] == "out.mp4"
    for stage in ("loading models", "encoding prompt", "sampling 3/3", "decoding", "saving"):
        assert stage in err, err
    assert re.search(r"^\s*\d{1,3}% \[[#.]+\] sampling \d/3 · 0:0\d elapsed · ETA 0:\d\d$", err, re.M), err
    assert err.splitlines()[-1].startswith("100% ")
    assert not _NODE_CLASS.search(err), err


async def test_a_happy_run_asks_nothing_but_what_the_job_needs(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        code, _, err = await wanbot("generate", "cat", "--frames", "5", "--comfyui", fake.url, cwd=tmp_path)
        routes = {r.route for r in fake.requests}
    assert code == 0, err
    probes = sorted(r for r in routes if r.startswith(("/system_stats", "/object_info", "/models")))
    assert probes == []
    assert len(fake.requests_to("/prompt", "POST")) == 1


async def test_a_rejection_is_explained_by_the_check(tmp_path: Path) -> None:
    async with FakeComfyUI() as fake:
        fake.models = {**fake.models, "vae": []}
        code, _, err = await wanbot("generate", "cat", "--comfyui", fake.url, cwd=tmp_path)
        assert not fake.accepted
        assert len(fake.requests_to("/prompt", "POST")) == 1  # not sent twice
    assert code == 1
    (line,) = [x for x in err.splitlines() if x.startswith("wanbot: ")]
    assert f"{fake.url} cannot run wan-wrapper" in line
    assert "model file 'Wan2_1_VAE_bf16.safetensors' not found in models/vae" in line


async def test_a_missing_node_pack_is_named(tmp_path: Path) -> None:
    async with FakeComfyUI() as fake:
        fake.object_info = {k: v for k, v in fake.object_info.items() if not k.startswith("VHS_")}
        code, _, err = await wanbot("generate", "cat", "--comfyui", fake.url, cwd=tmp_path)
        assert not fake.accepted
    assert code == 1
    assert ("node VHS_VideoCombine missing: install the ComfyUI-VideoHelperSuite node pack from "
            "https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite") in err


async def test_models_in_a_subfolder_are_found_after_one_rejection(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        fake.models = {folder: [f"wan2.1/{name}" for name in names if "/" not in name]
                       for folder, names in fake.models.items()}
        code, _, err = await wanbot("generate", "cat", "--frames", "5", "--comfyui", fake.url, cwd=tmp_path)
        posts = fake.requests_to("/prompt", "POST")
        (accepted,) = fake.accepted
    assert code == 0, err
    assert len(posts) == 2  # rejected once (value_not_in_list), then sent with the server's paths
    assert accepted.prompt["5"]["inputs"]["model_name"] == "wan2.1/Wan2_1_VAE_bf16.safetensors"
    assert accepted.prompt["3"]["inputs"]["model"] == "wan2.1/Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors"


_LEFT_OUT = ("discord", "prometheus_client", "aiosqlite", "cogs", "storage", "bot.jobs", "bot.app",
             "bot.services", "bot.ops", "bot.delivery")


async def test_generate_imports_nothing_of_the_bot_it_does_not_need(tmp_path: Path) -> None:
    """The whole command run in a process, then every module it loaded listed at exit."""
    dump = tmp_path / "modules.json"
    script = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(dump)!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
        "sys.argv[0] = 'wanbot'\n"
        "from bot.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        code, _, err = await wanbot("generate", "cat", "--frames", "5", "--comfyui", fake.url, cwd=tmp_path,
                                    python=[sys.executable, "-c", script])
    assert code == 0, err
    loaded = json.loads(dump.read_text())
    assert "aiohttp" in loaded and "bot.cli.generate" in loaded  # the dump is of a real run
    unwanted = [m for m in loaded if m.startswith(_LEFT_OUT)]
    assert unwanted == []
