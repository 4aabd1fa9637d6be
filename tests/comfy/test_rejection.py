"""Every captured 400 from a real ComfyUI becomes a plain sentence naming node, input and cause."""

from __future__ import annotations

import pytest

from bot.comfy.errors import ValidationFailed
from bot.comfy.rejection import rejection_from_body
from tests.fakes.comfyui import capture

BACKEND = "http://gpu1:8188"


def _rejection(sample: str) -> ValidationFailed:
    body = capture("error_samples.json")[sample]["body"]
    return rejection_from_body(body, BACKEND)


def test_missing_model_files_name_file_backend_and_input() -> None:
    error = _rejection("seed_workflow_no_models_installed")
    assert error.kind == "prompt_outputs_failed_validation"
    assert "model file 'wan2.1/Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors' is not installed on http://gpu1:8188" in error.reason
    assert "WanVideoModelLoader.model (node 3)" in error.reason
    assert {p.class_type for p in error.problems} >= {"LoadWanVideoT5TextEncoder", "WanVideoModelLoader"}
    assert all(p.kind == "value_not_in_list" for p in error.problems)


@pytest.mark.parametrize("sample, pack", [
    ("unknown_class_type_in_seed", "ComfyUI-WanVideoWrapper"),
    ("unknown_class_type", "ComfyUI core (update ComfyUI)"),
])
def test_unknown_node_names_the_pack_to_install(sample: str, pack: str) -> None:
    error = _rejection(sample)
    assert error.missing_packs == [pack]
    assert "is not installed on http://gpu1:8188" in error.reason
    assert f"install the {pack} node pack" in error.reason


@pytest.mark.parametrize("sample, expected", [
    ("missing_required_input", "EmptyImage.width (node 1) is missing a required input"),
    ("missing_required_link_input", "ImageBlend.image2 (node 3) is missing a required input"),
    ("invalid_combo_value_v3_node", "'bogus' is not an allowed value for ImageBlend.blend_mode (node 3) (allowed: 'normal'"),
    ("invalid_combo_value_vhs", "'video/bogus-mp4' is not an allowed value for VHS_VideoCombine.format"),
    ("value_below_min", "EmptyImage.width (node 1): Value 0 smaller than min of 1"),
    ("invalid_int_value", "EmptyImage.width (node 1): 'abc' is not a valid int"),
    ("link_to_missing_node", "ImageBlend.image2 (node 3) links to node '99', which is not in the workflow"),
    ("no_output_node", "the workflow has no output node"),
    ("no_prompt_key", "rejected the workflow: No prompt provided"),
])
def test_each_captured_shape_reads_plainly(sample: str, expected: str) -> None:
    assert expected in _rejection(sample).reason


def test_non_json_body_is_still_a_readable_error() -> None:
    error = rejection_from_body("500 Internal Server Error", BACKEND)
    assert error.reason.startswith("http://gpu1:8188 rejected the workflow")
