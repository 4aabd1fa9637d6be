"""The configured templates, loaded together: WANBOT_WORKFLOW may name several."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.settings import load_settings
from bot.workflows import TemplateError, load_templates


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

