"""`wanbot generate` refuses what it can know is wrong before anything reaches the GPU: an output
it could not write, a flag the template ignores; it picks the configured workflow and says in
`--help` what each option accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.workflows import load_template
from tests.cli._wanbot import ROOT, wanbot
from tests.fakes.comfyui import FakeComfyUI

_NATIVE = ROOT / "bot" / "workflows" / "builtin" / "wan-native.json"


def _template_file(folder: Path, *, drop: tuple[str, ...] = (), **extra: object) -> Path:
    """wan-native under another name, without the bindings in `drop`, plus `extra` keys."""
    spec = json.loads(_NATIVE.read_text("utf-8"))
    spec["name"] = "narrow"
    spec["bindings"] = {k: v for k, v in spec["bindings"].items() if k not in drop}
    spec.update(extra)
    path = folder / "narrow.json"
    path.write_text(json.dumps(spec), "utf-8")
    return path


async def test_an_output_inside_a_file_is_refused_before_submitting(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")
    async with FakeComfyUI() as fake:
        code, _, err = await wanbot("generate", "cat", "-o", "notes.txt/cat.mp4", "--comfyui", fake.url,
                                    cwd=tmp_path)
        assert fake.requests_to("/prompt", "POST") == []
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("wanbot: cannot write notes.txt/cat.mp4") and "Traceback" not in err


async def test_an_output_that_is_a_folder_is_refused_before_submitting(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    async with FakeComfyUI() as fake:
        code, _, err = await wanbot("generate", "cat", "-o", "clips", "--comfyui", fake.url, cwd=tmp_path)
        assert fake.requests_to("/prompt", "POST") == []
    assert code == 2
    assert "wanbot: cannot write clips: it is a folder" in err


async def test_an_output_in_a_new_folder_is_fine(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        code, _, err = await wanbot("generate", "cat", "-o", "new/dir/cat.mp4", "--frames", "5",
                                    "--comfyui", fake.url, cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "new" / "dir" / "cat.mp4").stat().st_size > 0
    assert not (tmp_path / "new" / "dir" / "cat.mp4.part").exists()


async def test_a_flag_the_template_does_not_bind_is_refused_with_what_it_binds(tmp_path: Path) -> None:
    template = _template_file(tmp_path, drop=("width", "height", "fps"))
    async with FakeComfyUI() as fake:
        code, _, err = await wanbot("generate", "cat", "--workflow", str(template), "--width", "640",
                                    "--fps", "24", "--comfyui", fake.url, cwd=tmp_path)
        assert fake.requests_to("/prompt", "POST") == []
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "template 'narrow' has no binding for --width, --fps" in line
    assert "it binds: PROMPT, --negative, --seed, --steps, --cfg, --shift, --frames" in line


async def test_the_first_configured_workflow_is_used(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        code, _, err = await wanbot("generate", "cat", "--frames", "5", "--comfyui", fake.url, cwd=tmp_path,
                                    env={"WANBOT_WORKFLOW": "wan-native, wan-wrapper"})
        (accepted,) = fake.accepted
    assert code == 0, err
    assert {node["class_type"] for node in accepted.prompt.values()} >= {"KSampler", "SaveVideo"}


async def test_workflow_flag_picks_another_configured_one(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        code, _, err = await wanbot("generate", "cat", "--frames", "5", "--workflow", "wan-wrapper",
                                    "--comfyui", fake.url, cwd=tmp_path,
                                    env={"WANBOT_WORKFLOW": "wan-native,wan-wrapper"})
        (accepted,) = fake.accepted
    assert code == 0, err
    assert "WanVideoSampler" in {node["class_type"] for node in accepted.prompt.values()}


def _option_line(help_text: str, flag: str) -> str:
    """The help entry of `flag`, its wrapped lines joined."""
    match = re.search(rf"^\s+{re.escape(flag)}\b(.*?)(?=^\s+-|\Z)", help_text, re.M | re.S)
    assert match, f"{flag} not in help:\n{help_text}"
    return " ".join(match.group(0).split())


def _num(value: float) -> str:
    return f"{value:g}"


async def test_help_shows_each_range_and_default_from_the_template(tmp_path: Path) -> None:
    path = _template_file(tmp_path, drop=("fps",), defaults={"steps": 20, "cfg": 5.5},
                          limits={"frames": {"max": 49}, "steps": {"min": 4, "max": 30}})
    template = load_template(path)
    code, out, err = await wanbot("generate", "--help", cwd=tmp_path, env={"WANBOT_WORKFLOW": str(path)})
    assert code == 0, err
    for param, flag in (("steps", "--steps"), ("cfg", "--cfg"), ("shift", "--shift"), ("width", "--width"),
                        ("height", "--height"), ("frames", "--frames")):
        line = _option_line(out, flag)
        limit = template.limit(param)
        assert f"{_num(limit.min)}–{_num(limit.max)}" in line, line
        assert f"default {_num(template.default(param))}" in line, line
    assert "5–49" in _option_line(out, "--frames") and "4k+1" in _option_line(out, "--frames")
    assert "default 20" in _option_line(out, "--steps") and "4–30" in _option_line(out, "--steps")
    assert "multiple of 16" in _option_line(out, "--width")
    assert "default: random" in _option_line(out, "--seed")
    assert "not bound by template 'narrow'" in _option_line(out, "--fps")
    assert "narrow" in out


async def test_help_follows_the_workflow_flag_wherever_it_is(tmp_path: Path) -> None:
    path = _template_file(tmp_path, limits={"frames": {"max": 41}})
    code, out, _ = await wanbot("generate", "--help", "--workflow", str(path), cwd=tmp_path)
    assert code == 0
    assert "5–41" in _option_line(out, "--frames")


async def test_help_still_prints_when_the_template_cannot_load(tmp_path: Path) -> None:
    code, out, _ = await wanbot("generate", "--help", cwd=tmp_path, env={"WANBOT_WORKFLOW": "nope.json"})
    assert code == 0
    assert "--frames" in out and "5–81" in out  # wanbot's own limits
    assert "nope.json" in out  # and why the template's were not used


async def test_a_workflow_setting_naming_nothing_is_one_line(tmp_path: Path) -> None:
    code, _, err = await wanbot("generate", "cat", "--comfyui", "http://127.0.0.1:9", cwd=tmp_path,
                                env={"WANBOT_WORKFLOW": " , "})
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("wanbot: WANBOT_WORKFLOW: names no template (example: wan-wrapper")
