"""Every way a template can be broken is refused at load time, with a line that names the file
and the binding or node at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.workflows import TemplateError, load_template, parse_template
from tests.workflows.specs import minimal_spec


def _error(spec: Any, source: str = "x.json") -> TemplateError:
    text = spec if isinstance(spec, str) else json.dumps(spec)
    with pytest.raises(TemplateError) as caught:
        parse_template(text, source)
    return caught.value


def test_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


def test_binding_to_missing_node() -> None:
    error = _error(minimal_spec(bindings={"prompt": ["2", "text"], "steps": ["99", "steps"]}))
    assert str(error) == (
        "template 'x.json': binding 'steps' points at node '99', which is not in the workflow"
    )
    assert error.source == "x.json"


def test_binding_to_missing_input() -> None:
    error = _error(minimal_spec(bindings={"prompt": ["2", "txt"]}))
    assert str(error) == (
        "template 'x.json': binding 'prompt' points at input 'txt' of node '2' (CLIPTextEncode), "
        "which it does not have; its inputs are: text, clip"
    )


def test_binding_to_a_link_input() -> None:
    error = _error(minimal_spec(bindings={"prompt": ["2", "clip"]}))
    assert "binding 'prompt' points at input 'clip' of node '2'" in str(error)
    assert "which is a link" in str(error)


def test_binding_of_unknown_param() -> None:
    error = _error(minimal_spec(bindings={"prompt": ["2", "text"], "stepz": ["2", "text"]}))
    assert str(error).startswith(
        "template 'x.json': binding 'stepz' is not a param; the params are: prompt,"
    )


@pytest.mark.parametrize(
    "raw", [["2"], "2.text", ["2", 5], [], [["2", "text"], "oops"], [True, "text"]]
)
def test_binding_of_wrong_shape(raw: Any) -> None:
    error = _error(minimal_spec(bindings={"prompt": raw}))
    assert 'binding \'prompt\' must be ["<node id>", "<input name>"]' in str(error)


def test_int_node_id_in_binding_is_accepted() -> None:
    template = parse_template(json.dumps(minimal_spec(bindings={"prompt": [2, "text"]})), "x.json")
    assert template.render({"prompt": "p"})["2"]["inputs"]["text"] == "p"


def test_two_params_on_one_input() -> None:
    error = _error(
        minimal_spec(bindings={"prompt": ["2", "text"], "negative_prompt": ["2", "text"]})
    )
    assert (
        "binding 'negative_prompt' points at input 'text' of node '2', which binding 'prompt' also sets"
        in str(error)
    )


def test_prompt_must_be_bound() -> None:
    error = _error(minimal_spec(bindings={"negative_prompt": ["3", "text"]}))
    assert 'does not bind "prompt"' in str(error)


def test_no_output_node() -> None:
    spec = minimal_spec()
    del spec["workflow"]["4"]
    assert str(_error(spec)) == (
        "template 'x.json': has no output node; add one that saves the video "
        "(VHS_VideoCombine or SaveVideo)"
    )


def test_int_source_id_in_link() -> None:
    spec = minimal_spec()
    spec["workflow"]["2"]["inputs"]["clip"] = [1, 0]
    assert str(_error(spec)) == (
        "template 'x.json': node '2' input 'clip' is [1, 0], which is not a link; "
        'a link is ["<node id as a string>", <output index>], e.g. ["1", 0]'
    )


@pytest.mark.parametrize("bad", [["1"], ["1", 0, 0], ["1", "0"], ["1", -1], ["1", True], []])
def test_malformed_link(bad: list[Any]) -> None:
    spec = minimal_spec()
    spec["workflow"]["3"]["inputs"]["clip"] = bad
    assert "node '3' input 'clip' is " in str(_error(spec))
    assert "which is not a link" in str(_error(spec))


def test_link_to_missing_node() -> None:
    spec = minimal_spec()
    spec["workflow"]["4"]["inputs"]["video"] = ["42", 0]
    assert str(_error(spec)) == (
        "template 'x.json': node '4' input 'video' links to node '42', which is not in the workflow"
    )


def test_invalid_json() -> None:
    error = _error('{"name": "x", "workflow": {,}}')
    assert str(error).startswith("template 'x.json': is not valid JSON: ")
    assert "line 1 column 28" in str(error)


def test_duplicate_node_id() -> None:
    text = '{"name": "x", "workflow": {"1": {}, "1": {}}, "bindings": {}}'
    assert "key '1' appears twice" in str(_error(text))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ([], "must be a JSON object"),
        ({"workflow": {}, "bindings": {}}, "name: Field required"),
        ({**minimal_spec(), "workflow": {"1": 5}}, "workflow.1: must be a JSON object"),
        (
            {**minimal_spec(), "workflow": {"1": {"inputs": {}}}},
            "workflow.1.class_type: Field required",
        ),
        ({**minimal_spec(), "binding": {}}, "binding: is not a template key; the keys are: name,"),
        (
            {**minimal_spec(), "limits": {"steps": {"maximum": 3}}},
            "limits.steps.maximum: is not a limit key",
        ),
    ],
)
def test_wrong_file_structure(spec: Any, expected: str) -> None:
    assert expected in str(_error(spec))


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"stepz": {"max": 3}}, "limits 'stepz' is not a param"),
        ({"steps": {"min": 30, "max": 20}}, "limits 'steps': min 30 is above max 20"),
        (
            {"cfg": {"max": 50}},
            "limits 'cfg': 1..50 goes outside 0..30, what the ComfyUI nodes accept",
        ),
    ],
)
def test_bad_limits(limits: dict[str, Any], expected: str) -> None:
    assert expected in str(_error(minimal_spec(limits=limits)))


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        ({"prompt": "a cat"}, "defaults 'prompt': a template cannot choose the prompt"),
        ({"steps": "20"}, "defaults 'steps': \"20\" is not a whole number"),
        ({"steps": True}, "defaults 'steps': true is not a whole number"),
        ({"cfg": "high"}, "defaults 'cfg': \"high\" is not a number"),
        ({"frames": 80}, "defaults 'frames': 80 breaks the rule for frames"),
        ({"width": 500}, "defaults 'width': 500 breaks the rule for width"),
        ({"steps": 60}, "defaults 'steps': 60 is outside the limit 1..50"),
        ({"fpz": 3}, "defaults 'fpz': is not a param"),
    ],
)
def test_bad_defaults(defaults: dict[str, Any], expected: str) -> None:
    assert expected in str(_error(minimal_spec(defaults=defaults)))


def test_default_checked_against_the_templates_own_limit() -> None:
    spec = minimal_spec(defaults={"steps": 60}, limits={"steps": {"max": 100}})
    assert parse_template(json.dumps(spec), "x.json").default("steps") == 60


def test_every_problem_is_reported_on_its_own_line() -> None:
    spec = minimal_spec(
        bindings={"prompt": ["2", "text"], "steps": ["99", "steps"], "cfg": ["2", "nope"]}
    )
    spec["workflow"]["3"]["inputs"]["clip"] = [1, 0]
    error = _error(spec)
    assert len(error.problems) == 3
    assert all(line.startswith("template 'x.json': ") for line in str(error).splitlines())


def test_missing_file_names_the_path_and_builtins(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(TemplateError) as caught:
        load_template(missing)
    assert str(caught.value) == (
        f"template '{missing}': no such file, and not a built-in template "
        "(wan-wrapper, wan-native, wan-wrapper-14b, wan-native-14b, wan-wrapper-i2v, wan-native-i2v)"
    )


def test_broken_file_on_disk_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(b'{"name": "x",')
    with pytest.raises(TemplateError, match=r"^template '.*broken\.json': is not valid JSON"):
        load_template(path)
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(TemplateError, match="is not UTF-8 text"):
        load_template(path)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"label": {"fr": "Rapide"}}, "label 'fr': the bot speaks English and Chinese"),
        ({"label": {"en-US": "   "}}, "label 'en-US': must be 1 to 100 characters"),
        ({"label": {"en-US": "x" * 101}}, "label 'en-US': must be 1 to 100 characters"),
        ({"label": "Fast"}, "label: must be a JSON object"),
        ({"vram_gb": 0}, "vram_gb: Input should be greater than 0"),
        ({"vram_gb": "lots"}, "vram_gb: Input should be a valid number"),
    ],
)
def test_bad_label_or_vram(extra: dict[str, Any], expected: str) -> None:
    assert expected in str(_error(minimal_spec(**extra)))


def test_label_and_vram_are_optional_and_read_per_language() -> None:
    plain = parse_template(json.dumps(minimal_spec()), "x.json")
    assert (plain.label("zh-CN"), plain.vram_gb) == ("mini", None)
    english_only = parse_template(json.dumps(minimal_spec(label={"en-US": "Quick"}, vram_gb=12)), "x.json")
    assert (english_only.label("zh-CN"), english_only.label("en-GB"), english_only.vram_gb) == ("Quick", "Quick", 12)


def _with_load_image(**overrides: Any) -> dict[str, Any]:
    spec = minimal_spec(**overrides)
    spec["workflow"]["5"] = {"class_type": "LoadImage", "inputs": {"image": "start.png"}}
    return spec


def test_an_i2v_template_must_say_where_the_picture_goes() -> None:
    error = _error(_with_load_image(kind="i2v"))
    assert str(error) == (
        "template 'x.json': kind \"i2v\" starts from a picture: bind \"image\" to the image input of a "
        "LoadImage node, e.g. \"image\": [\"<node id>\", \"image\"]"
    )


def test_a_t2v_template_cannot_bind_a_picture() -> None:
    bindings = {"prompt": ["2", "text"], "image": ["5", "image"]}
    assert 'binds "image" but its kind is "t2v"' in str(_error(_with_load_image(bindings=bindings)))


def test_the_kind_is_t2v_or_i2v() -> None:
    assert 'kind: must be "t2v" (from text) or "i2v" (from a picture)' in str(_error(minimal_spec(kind="v2v")))


def test_an_i2v_template_loads_with_its_picture_binding() -> None:
    bindings = {"prompt": ["2", "text"], "image": ["5", "image"]}
    template = parse_template(json.dumps(_with_load_image(kind="i2v", bindings=bindings)), "x.json")
    assert template.kind == "i2v" and template.starts_from_image
    assert [(t.node_id, t.input_name) for t in template.image_targets] == [("5", "image")]
    assert template.params == ("prompt",)  # the picture is not one of the video params
    assert template.render({"prompt": "p", "image": "wanbot/job-1-ab.png"})["5"]["inputs"]["image"] == (
        "wanbot/job-1-ab.png")


def test_the_picture_binding_is_checked_like_the_others() -> None:
    bindings = {"prompt": ["2", "text"], "image": ["5", "picture"]}
    assert "binding 'image' points at input 'picture' of node '5' (LoadImage)" in str(
        _error(_with_load_image(kind="i2v", bindings=bindings)))


def test_unknown_preview_method() -> None:
    error = _error({**minimal_spec(), "preview_method": "fancy"})
    assert str(error).startswith("template 'x.json': preview_method: Input should be 'latent2rgb', 'taesd'")
