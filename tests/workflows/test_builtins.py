"""The built-in templates against what a real ComfyUI server accepts (the shared captures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.workflows import BUILTIN_TEMPLATES, PARAMS, Template, VideoRequest, load_template
from bot.workflows.graph import MODEL_INPUTS
from bot.workflows.params import GLOBAL_LIMITS, nearest_valid
from tests.workflows.object_info_check import graph_problems


def _model_inputs(template: Template) -> set[tuple[str, str]]:
    return {(ref.node_id, ref.input_name) for ref in template.model_files()}


def _uploads(template: Template) -> set[tuple[str, str]]:
    return {(t.node_id, t.input_name) for t in template.image_targets}


def _problems(template: Template, graph: dict[str, Any], object_info: dict[str, Any]) -> list[str]:
    return graph_problems(graph, object_info, _model_inputs(template), _uploads(template))


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
def test_builtin_loads_and_binds_every_param(name: str) -> None:
    template = load_template(name)
    assert template.name == name
    assert template.params == PARAMS
    assert template.description


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
def test_every_input_valid_against_object_info(name: str, object_info: dict[str, Any]) -> None:
    template = load_template(name)
    assert _problems(template, template.workflow, object_info) == []


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
def test_only_model_file_combos_are_exempt(name: str, object_info: dict[str, Any]) -> None:
    """The model-file exemption is exactly the ModelRef table: every loader file input of the
    graph is a model ref, and every model ref is a combo input of a table class."""
    template = load_template(name)
    graph = template.workflow
    refs = template.model_files()
    assert len(refs) == (4 if template.starts_from_image else 3)  # i2v adds the CLIP vision model
    for ref in refs:
        assert (ref.class_type, ref.input_name) in MODEL_INPUTS
        spec = object_info[ref.class_type]["input"]["required"][ref.input_name]
        assert isinstance(spec[0], list), "model inputs are combos of installed files"
    for node_id, node in graph.items():
        for input_name, value in node["inputs"].items():
            if isinstance(value, str) and value.endswith(".safetensors"):
                assert (node_id, input_name) in _model_inputs(template)


def _extremes() -> list[dict[str, Any]]:
    low = {p: nearest_valid(p, GLOBAL_LIMITS[p].min, GLOBAL_LIMITS[p]) for p in PARAMS[2:]}
    high = {p: nearest_valid(p, GLOBAL_LIMITS[p].max, GLOBAL_LIMITS[p]) for p in PARAMS[2:]}
    return [low, high]


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
@pytest.mark.parametrize("extreme", _extremes(), ids=["lowest", "highest"])
def test_global_limits_stay_inside_node_ranges(
    name: str, extreme: dict[str, Any], object_info: dict[str, Any]
) -> None:
    template = load_template(name)
    request = VideoRequest.build(template, None, prompt="p", **extreme)
    graph = template.render(request.to_params())
    assert _problems(template, graph, object_info) == []


def _links(graph: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (node_id, name): value
        for node_id, node in graph.items()
        for name, value in node["inputs"].items()
        if isinstance(value, list)
    }


def test_wrapper_is_the_seed_graph(comfyui_data: Path) -> None:
    """Same nodes, inputs and links as the seed's graph the real server saw; values differ only
    where the seed put model files in a wan2.1/ subfolder or named its own output prefix."""
    history = json.loads((comfyui_data / "history_sample.json").read_text("utf-8"))
    (entry,) = history["seed_placeholder_models"].values()
    seed_graph = entry["prompt"][2]
    ours = load_template("wan-wrapper").workflow
    assert {k: v["class_type"] for k, v in ours.items()} == {
        k: v["class_type"] for k, v in seed_graph.items()
    }
    assert _links(ours) == _links(seed_graph)
    for node_id, node in seed_graph.items():
        assert set(ours[node_id]["inputs"]) == set(node["inputs"])
        for name, value in node["inputs"].items():
            mine = ours[node_id]["inputs"][name]
            if isinstance(value, str) and value.startswith("wan2.1/"):
                assert mine == value.removeprefix("wan2.1/")
            elif name not in ("filename_prefix", "positive_prompt", "seed"):
                assert mine == value, (node_id, name)


def test_native_has_the_real_core_wan_shape(comfyui_data: Path) -> None:
    """The captured core-node Wan job ran with VHS output; ours swaps that for CreateVideo +
    SaveVideo and keeps every other node and link."""
    path = comfyui_data / "workflows" / "core_wan_tiny_random_64x64_5f_2steps.json"
    real = json.loads(path.read_text("utf-8"))
    ours = load_template("wan-native").workflow
    real_core = {k: v for k, v in real.items() if v["class_type"] != "VHS_VideoCombine"}
    by_class = {v["class_type"] for v in ours.values()}
    assert {v["class_type"] for v in real_core.values()} <= by_class
    assert {"CreateVideo", "SaveVideo"} <= by_class
    for node_id, node in real_core.items():
        assert ours[node_id]["class_type"] == node["class_type"]
        assert set(ours[node_id]["inputs"]) == set(node["inputs"])
    assert {k: v for k, v in _links(ours).items() if k[0] in real_core} == _links(real_core)


def test_builtin_settings_match_the_design() -> None:
    wrapper = load_template("wan-wrapper").workflow
    assert wrapper["6"]["inputs"]["scheduler"] == "dpm++"
    assert wrapper["8"]["inputs"]["format"] == "video/h264-mp4"
    assert wrapper["8"]["inputs"]["filename_prefix"] == "wanbot"
    assert wrapper["3"]["inputs"]["model"] == "Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors"
    native = load_template("wan-native").workflow
    assert native["7"]["inputs"]["sampler_name"] == "uni_pc"
    assert native["7"]["inputs"]["scheduler"] == "simple"
    assert native["11"]["inputs"] | {"video": None} == {
        "filename_prefix": "video/wanbot",
        "format": "mp4",
        "codec": "h264",
        "video": None,
    }
    assert native["1"]["inputs"]["type"] == "wan"


@pytest.mark.parametrize(("big", "small", "model"), [
    ("wan-wrapper-14b", "wan-wrapper", "Wan2_1-T2V-14B_fp8_e4m3fn.safetensors"),
    ("wan-native-14b", "wan-native", "wan2.1_t2v_14B_fp8_e4m3fn.safetensors"),
])
def test_14b_builtins_are_the_1_3b_graphs_with_the_14b_model(big: str, small: str, model: str) -> None:
    big_t, small_t = load_template(big), load_template(small)
    (big_model,) = [ref for ref in big_t.model_files() if ref.folder == "diffusion_models"]
    assert big_model.filename == model
    graph = big_t.workflow
    graph[big_model.node_id]["inputs"][big_model.input_name] = next(
        ref.filename for ref in small_t.model_files() if ref.folder == "diffusion_models")
    assert graph == small_t.workflow
    assert big_t.bindings == small_t.bindings
    assert {p: big_t.default(p) for p in ("width", "height", "frames", "fps", "steps", "cfg", "shift")} == {
        "width": 832, "height": 480, "frames": 81, "fps": 16, "steps": 15, "cfg": 6.0, "shift": 5.0}


def test_builtins_declare_their_vram_and_a_label_in_both_languages() -> None:
    needs = {name: load_template(name).vram_gb for name in BUILTIN_TEMPLATES}
    assert needs == {"wan-wrapper": 8, "wan-native": 8, "wan-wrapper-14b": 24, "wan-native-14b": 24,
                     "wan-wrapper-i2v": 24, "wan-native-i2v": 24}
    big = load_template("wan-wrapper-14b")
    assert (big.label("en-US"), big.label("zh-CN")) == ("Best (14B)", "高质量 (14B)")
    for name in BUILTIN_TEMPLATES:
        template = load_template(name)
        assert template.label("en-US") != template.label("zh-CN")


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
def test_the_emulator_has_every_builtin_model_as_reference(name: str) -> None:
    """The emulator's reference catalogue names each built-in's files (not only because it
    also scans the built-ins), so a renamed file in a template is caught here."""
    from tests.fakes.comfyui._catalog import REFERENCE_MODELS

    for ref in load_template(name).model_files():
        assert ref.filename in REFERENCE_MODELS[ref.folder]
@pytest.mark.parametrize(("name", "kind"), [("wan-wrapper", "t2v"), ("wan-native", "t2v"),
                                            ("wan-wrapper-i2v", "i2v"), ("wan-native-i2v", "i2v")])
def test_each_builtin_says_what_it_starts_from(name: str, kind: str, object_info: dict[str, Any]) -> None:
    template = load_template(name)
    assert template.kind == kind
    if kind == "t2v":
        assert template.image_targets == ()
        return
    (target,) = template.image_targets
    graph = template.workflow
    assert graph[target.node_id]["class_type"] == "LoadImage" and target.input_name == "image"
    # The picture reaches both the CLIP vision encoder and the image-to-video encoder.
    users = {node["class_type"] for node in graph.values() if [target.node_id, 0] in node["inputs"].values()}
    assert len(users) == 2
    clip = [ref for ref in template.model_files() if ref.folder == "clip_vision"]
    assert [(r.class_type, r.filename) for r in clip] == [("CLIPVisionLoader", "clip_vision_h.safetensors")]
    # Wan's own default for 480p image-to-video is a shift of 3 (its generate.py).
    assert template.default("shift") == 3.0


def test_native_i2v_is_the_official_example_shape() -> None:
    """ComfyUI's official Wan 2.1 image-to-video example: core nodes only, the picture through
    CLIPVisionEncode and WanImageToVideo into KSampler, saved by SaveVideo."""
    graph = load_template("wan-native-i2v").workflow
    by_class = {node["class_type"]: node_id for node_id, node in graph.items()}
    assert set(by_class) == {"CLIPLoader", "CLIPTextEncode", "UNETLoader", "ModelSamplingSD3", "LoadImage",
                             "CLIPVisionLoader", "CLIPVisionEncode", "VAELoader", "WanImageToVideo", "KSampler",
                             "VAEDecode", "CreateVideo", "SaveVideo"}
    i2v = graph[by_class["WanImageToVideo"]]["inputs"]
    assert i2v["clip_vision_output"] == [by_class["CLIPVisionEncode"], 0]
    assert i2v["start_image"] == [by_class["LoadImage"], 0]
    sampler = graph[by_class["KSampler"]]["inputs"]
    wan = by_class["WanImageToVideo"]
    assert (sampler["positive"], sampler["negative"], sampler["latent_image"]) == ([wan, 0], [wan, 1], [wan, 2])
    assert graph[by_class["UNETLoader"]]["inputs"]["unet_name"] == "wan2.1_i2v_480p_14B_fp16.safetensors"


def test_wrapper_i2v_is_kijais_image_to_video_path() -> None:
    graph = load_template("wan-wrapper-i2v").workflow
    by_class = {node["class_type"]: node_id for node_id, node in graph.items()}
    assert set(by_class) == {"LoadWanVideoT5TextEncoder", "WanVideoTextEncode", "WanVideoModelLoader", "LoadImage",
                             "CLIPVisionLoader", "WanVideoClipVisionEncode", "WanVideoVAELoader",
                             "WanVideoImageToVideoEncode", "WanVideoSampler", "WanVideoDecode", "VHS_VideoCombine"}
    encode = graph[by_class["WanVideoImageToVideoEncode"]]["inputs"]
    assert encode["clip_embeds"] == [by_class["WanVideoClipVisionEncode"], 0]
    assert encode["start_image"] == [by_class["LoadImage"], 0]
    assert encode["fun_or_fl2v_model"] is False  # a plain I2V model, not FLF2V or Fun
    assert graph[by_class["WanVideoSampler"]]["inputs"]["image_embeds"] == [by_class["WanVideoImageToVideoEncode"], 0]
    assert graph[by_class["WanVideoModelLoader"]]["inputs"]["model"] == "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors"
