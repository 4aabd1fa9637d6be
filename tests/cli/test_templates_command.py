"""`wanbot templates`: what each built-in and configured template offers an operator."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli._wanbot import ROOT, wanbot


def _custom_template(folder: Path) -> Path:
    body = json.loads((ROOT / "bot" / "workflows" / "builtin" / "wan-native.json").read_text("utf-8"))
    body.update(name="short-native", description="Short clips on core nodes.",
                defaults={"steps": 20}, limits={"frames": {"max": 49}})
    body["bindings"].pop("shift")
    path = folder / "short.json"
    path.write_text(json.dumps(body), "utf-8")
    return path


async def test_lists_configured_templates_first_then_the_other_builtins(tmp_path: Path) -> None:
    custom = _custom_template(tmp_path)
    run = await wanbot("templates", cwd=tmp_path, env={"WANBOT_WORKFLOW": f"{custom},wan-wrapper"})
    assert run.code == 0, run.err
    headings = [line for line in run.out.splitlines() if line and not line.startswith(" ")]
    assert headings == [f"short-native ({custom}; text-to-video; configured, the default)",
                        "wan-wrapper (built-in; text-to-video; configured)", "wan-native (built-in; text-to-video)",
                        "wan-wrapper-14b (built-in; text-to-video)", "wan-native-14b (built-in; text-to-video)",
                        "wan-wrapper-i2v (built-in; image-to-video)", "wan-native-i2v (built-in; image-to-video)"]
    assert "  in /video: Best (14B) / 高质量 (14B) · needs 24 GB of VRAM" in run.out.splitlines()
    short = run.out.split("\n\n")[0:2]
    table = short[1].splitlines()
    assert table[0].split() == ["param", "binds", "default", "limits"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert "shift" not in rows  # not bound by this template
    assert "node 7 KSampler.steps" in rows["steps"] and " 20 " in rows["steps"]
    assert rows["frames"].rstrip().endswith("5..49, 4k+1")
    assert "random" in rows["seed"] and "(required)" in rows["prompt"]


async def test_json_has_every_binding_default_and_limit(tmp_path: Path) -> None:
    run = await wanbot("templates", "--json", cwd=tmp_path)
    assert run.code == 0, run.err
    listed = {t["name"]: t for t in json.loads(run.out)["templates"]}
    assert list(listed) == ["wan-wrapper", "wan-native", "wan-wrapper-14b", "wan-native-14b",
                            "wan-wrapper-i2v", "wan-native-i2v"]
    assert [t["kind"] for t in listed.values()] == ["t2v", "t2v", "t2v", "t2v", "i2v", "i2v"]
    assert listed["wan-native-i2v"]["image"] == [{"node": "6", "class_type": "LoadImage", "input": "image"}]
    assert listed["wan-native"]["image"] == []
    assert listed["wan-wrapper"]["default"] and not listed["wan-native"]["configured"]
    assert listed["wan-native-14b"]["vram_gb"] == 24
    assert listed["wan-native-14b"]["label"] == {"en-US": "Best (14B, core nodes)", "zh-CN": "高质量 (14B，核心节点)"}
    params = {p["name"]: p for p in listed["wan-wrapper"]["params"]}
    assert params["frames"]["binds"] == [{"node": "4", "class_type": "WanVideoEmptyEmbeds", "input": "num_frames"}]
    assert (params["frames"]["default"], params["frames"]["min"], params["frames"]["max"]) == (81, 5, 81)
    assert params["width"]["rule"] == "multiple of 16"
    assert params["seed"]["default"] is None and params["prompt"]["counts"] == "characters"


async def test_a_broken_configured_template_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{", "utf-8")
    run = await wanbot("templates", cwd=tmp_path, env={"WANBOT_WORKFLOW": "wan-native,bad.json"})
    assert run.code == 2
    (line,) = run.err.splitlines()
    assert line.startswith("wanbot: template 'bad.json': is not valid JSON")
    assert run.out == ""


async def test_an_image_to_video_template_shows_where_the_picture_goes(tmp_path: Path) -> None:
    run = await wanbot("templates", cwd=tmp_path, env={"WANBOT_WORKFLOW": "wan-wrapper-i2v"})
    assert run.code == 0, run.err
    section = run.out.split("\n\n")[0:2]
    assert section[0].startswith("wan-wrapper-i2v (built-in; image-to-video; configured, the default)")
    rows = {line.split()[0]: line for line in section[1].splitlines()[1:]}
    assert "node 4 LoadImage.image" in rows["image"] and "(required)" in rows["image"]
    assert " 3.0 " in rows["shift"]  # Wan's 480p image-to-video shift
