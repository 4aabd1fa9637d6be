"""The configured templates, loaded together: WANBOT_WORKFLOW may name several."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.settings import load_settings
from bot.workflows import RequestInvalid, TemplateError, load_templates, pick_template


def _renamed_copy(tmp_path: Path, builtin: str, name: str) -> Path:
    source = Path(__file__).resolve().parents[2] / "bot" / "workflows" / "builtin" / f"{builtin}.json"
    body = json.loads(source.read_text("utf-8"))
    body["name"] = name
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(body), "utf-8")
    return path


def test_a_comma_separated_list_loads_in_order_first_is_the_default(tmp_path: Path) -> None:
    mine = _renamed_copy(tmp_path, "wan-native", "my-wan")
    settings = load_settings(workflow=f" wan-native , {mine},wan-wrapper")
    templates = load_templates(settings.workflows)
    assert list(templates) == ["wan-native", "my-wan", "wan-wrapper"]
    assert templates["my-wan"].source == str(mine)


def test_every_broken_template_is_reported_at_once(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{", "utf-8")
    with pytest.raises(TemplateError) as info:
        load_templates(["wan-wrapper", str(broken), "nope"])
    assert len(info.value.problems) == 2
    assert "broken.json" in info.value.problems[0] and "'nope'" in info.value.problems[1]


def test_two_templates_with_one_name_are_refused(tmp_path: Path) -> None:
    twin = _renamed_copy(tmp_path, "wan-native", "wan-wrapper")
    with pytest.raises(TemplateError) as info:
        load_templates(["wan-wrapper", str(twin)])
    (problem,) = info.value.problems
    assert "'wan-wrapper'" in problem and "also" in problem


def test_the_same_template_named_twice_is_loaded_once() -> None:
    assert list(load_templates(["wan-native", "wan-native"])) == ["wan-native"]


def test_no_template_at_all_is_refused() -> None:
    with pytest.raises(TemplateError):
        load_templates([])



# --- which template runs a request: from text (t2v) or from a picture (i2v) -------------------

BOTH = ["wan-native", "wan-wrapper", "wan-native-i2v", "wan-wrapper-i2v"]


@pytest.mark.parametrize(
    ("configured", "wanted", "image", "expected"),
    [
        (BOTH, None, False, "wan-native"),  # the first t2v one, as before
        (BOTH, None, True, "wan-native-i2v"),  # the first i2v one
        (BOTH, "wan-wrapper", False, "wan-wrapper"),  # the member's choice, of the right kind
        (BOTH, "wan-wrapper-i2v", True, "wan-wrapper-i2v"),
        (BOTH, "wan-wrapper", True, "wan-native-i2v"),  # chose t2v but brought a picture
        (BOTH, "wan-wrapper-i2v", False, "wan-native"),  # chose i2v but brought none
        (["wan-native-i2v", "wan-wrapper"], None, False, "wan-wrapper"),  # an i2v default is skipped
        (BOTH, "gone", True, "wan-native-i2v"),  # a workflow no longer configured
    ],
)
def test_the_kind_of_the_request_picks_the_template(configured: list[str], wanted: str | None, image: bool,
                                                    expected: str) -> None:
    assert pick_template(load_templates(configured), wanted, image=image).name == expected


@pytest.mark.parametrize(
    ("configured", "image", "en", "zh"),
    [
        (["wan-native", "wan-wrapper"], True, "This server offers no image-to-video", "本服务器不提供图生视频"),
        (["wan-native-i2v"], False, "only makes videos from a picture", "只能从图片生成视频"),
    ],
)
def test_no_template_of_the_needed_kind_is_a_refusal_in_both_languages(configured: list[str], image: bool,
                                                                         en: str, zh: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        pick_template(load_templates(configured), None, image=image)
    assert en in refused.value.render("en-US")
    assert zh in refused.value.render("zh-CN")
