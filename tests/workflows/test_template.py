"""Loading templates, rendering by key, and what a template tells `wanbot check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.workflows import ModelRef, Target, Template, load_template, parse_template
from bot.workflows.params import GLOBAL_DEFAULTS, GLOBAL_LIMITS, Limit
from tests.workflows.specs import minimal_spec

TRICKY_PROMPTS = [
    'a "quoted" cat\'s tail',
    "line one\nline two\r\n\ttabbed",
    "一只戴着墨镜的猫在海边冲浪，夕阳，电影感",
    "emoji 🐱🌊 and ZWJ 👩‍🚀",
    "{prompt} {0} {{braces}} ${HOME} %s %(name)s %%",
    '"}, "6": {"class_type": "Evil", "inputs": {}}, "x": {"',
    "back\\slash \\n not a newline \\u0041",
]


@pytest.fixture(scope="module")
def wrapper() -> Template:
    return load_template("wan-wrapper")


@pytest.fixture(scope="module")
def native() -> Template:
    return load_template("wan-native")


def test_render_sets_every_bound_input(wrapper: Template) -> None:
    graph = wrapper.render(
        {
            "prompt": "p",
            "negative_prompt": "n",
            "seed": 7,
            "steps": 20,
            "cfg": 7.5,
            "shift": 3.0,
            "width": 640,
            "height": 368,
            "frames": 33,
            "fps": 24,
        }
    )
    assert graph["2"]["inputs"]["positive_prompt"] == "p"
    assert graph["2"]["inputs"]["negative_prompt"] == "n"
    assert {k: graph["6"]["inputs"][k] for k in ("seed", "steps", "cfg", "shift")} == {
        "seed": 7,
        "steps": 20,
        "cfg": 7.5,
        "shift": 3.0,
    }
    assert graph["4"]["inputs"] == {"width": 640, "height": 368, "num_frames": 33}
    assert graph["8"]["inputs"]["frame_rate"] == 24


def test_native_bindings_hit_the_core_nodes(native: Template) -> None:
    graph = native.render(
        {"prompt": "p", "negative_prompt": "n", "shift": 8.0, "frames": 49, "fps": 12}
    )
    assert graph["2"]["inputs"]["text"] == "p"
    assert graph["3"]["inputs"]["text"] == "n"
    assert graph["5"]["inputs"]["shift"] == 8.0
    assert graph["6"]["inputs"]["length"] == 49
    assert graph["10"]["inputs"]["fps"] == 12


def test_render_does_not_touch_the_template(wrapper: Template) -> None:
    before = wrapper.workflow
    first = wrapper.render({"prompt": "first", "seed": 1})
    first["2"]["inputs"]["t5"][0] = "mutated"
    first["6"]["inputs"]["steps"] = 999
    second = wrapper.render({"prompt": "second"})
    assert wrapper.workflow == before
    assert second["2"]["inputs"]["t5"] == ["1", 0]
    assert second["6"]["inputs"]["steps"] == before["6"]["inputs"]["steps"]
    assert second["2"]["inputs"]["positive_prompt"] == "second"


def test_workflow_property_is_a_copy(wrapper: Template) -> None:
    wrapper.workflow["1"]["inputs"]["precision"] = "fp32"
    assert wrapper.workflow["1"]["inputs"]["precision"] == "bf16"


@pytest.mark.parametrize("prompt", TRICKY_PROMPTS)
@pytest.mark.parametrize("name", ["wan-wrapper", "wan-native"])
def test_prompt_survives_exactly(name: str, prompt: str) -> None:
    template = load_template(name)
    graph = template.render({"prompt": prompt, "negative_prompt": prompt})
    node_id, input_name = template.bindings["prompt"][0]
    assert graph[node_id]["inputs"][input_name] == prompt
    # What the client POSTs: the JSON round trip keeps it too, and the graph keeps its shape.
    sent = json.loads(json.dumps({"prompt": graph}))["prompt"]
    assert sent[node_id]["inputs"][input_name] == prompt
    assert set(sent) == set(template.workflow)


def test_unbound_and_none_params_are_ignored(native: Template) -> None:
    text = minimal_spec(bindings={"prompt": ["2", "text"]})
    template = parse_template(json.dumps(text), "t.json")
    graph = template.render({"prompt": "p", "shift": 3.0, "bogus": object(), "seed": None})
    assert graph["2"]["inputs"]["text"] == "p"
    assert not template.supports("shift")
    assert template.supports("prompt")
    assert template.params == ("prompt",)
    assert native.render({"prompt": None})["2"]["inputs"]["text"] == ""


def test_render_refuses_list_values(wrapper: Template) -> None:
    with pytest.raises(TypeError, match="'prompt'"):
        wrapper.render({"prompt": ["6", 0]})


def test_one_param_can_set_several_inputs() -> None:
    spec = minimal_spec(bindings={"prompt": [["2", "text"], ["3", "text"]]})
    template = parse_template(json.dumps(spec), "t.json")
    graph = template.render({"prompt": "both"})
    assert graph["2"]["inputs"]["text"] == graph["3"]["inputs"]["text"] == "both"
    assert template.bindings["prompt"] == (Target("2", "text"), Target("3", "text"))


def test_node_meta_is_kept() -> None:
    spec = minimal_spec()
    spec["workflow"]["2"]["_meta"] = {"title": "Positive"}
    graph = parse_template(json.dumps(spec), "t.json").render({"prompt": "p"})
    assert graph["2"]["_meta"] == {"title": "Positive"}


def test_inspection_helpers(wrapper: Template, native: Template) -> None:
    assert wrapper.output_node_ids() == ["8"]
    assert native.output_node_ids() == ["11"]
    assert "VHS_VideoCombine" in wrapper.node_classes()
    assert native.node_classes() == {
        "CLIPLoader",
        "CLIPTextEncode",
        "UNETLoader",
        "ModelSamplingSD3",
        "EmptyHunyuanLatentVideo",
        "KSampler",
        "VAELoader",
        "VAEDecode",
        "CreateVideo",
        "SaveVideo",
    }
    assert wrapper.model_files() == [
        ModelRef(
            "1",
            "LoadWanVideoT5TextEncoder",
            "model_name",
            "umt5-xxl-enc-bf16.safetensors",
            "text_encoders",
        ),
        ModelRef(
            "3",
            "WanVideoModelLoader",
            "model",
            "Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors",
            "diffusion_models",
        ),
        ModelRef("5", "WanVideoVAELoader", "model_name", "Wan2_1_VAE_bf16.safetensors", "vae"),
    ]
    assert [(r.class_type, r.filename, r.folder) for r in native.model_files()] == [
        ("CLIPLoader", "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "text_encoders"),
        ("UNETLoader", "wan2.1_t2v_1.3B_fp16.safetensors", "diffusion_models"),
        ("VAELoader", "wan_2.1_vae.safetensors", "vae"),
    ]


def test_generic_model_rule_for_other_loaders() -> None:
    spec = minimal_spec()
    spec["workflow"].update(
        {
            "20": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd/x.ckpt"}},
            "21": {
                "class_type": "LoraLoaderModelOnly",
                "inputs": {"lora_name": "wan_lora.safetensors", "model": ["20", 0]},
            },
            "22": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
            "23": {"class_type": "SomePackLoader", "inputs": {"model_name": "mystery.safetensors"}},
        }
    )
    refs = parse_template(json.dumps(spec), "t.json").model_files()
    assert [(r.node_id, r.folder) for r in refs][1:] == [("20", "checkpoints"), ("21", "loras")]


def test_defaults_and_limits_merge_with_global(native: Template) -> None:
    assert native.defaults == GLOBAL_DEFAULTS
    assert native.limit("frames") == GLOBAL_LIMITS["frames"]
    spec = minimal_spec(
        defaults={"steps": 20, "negative_prompt": "blurry"}, limits={"frames": {"max": 121}}
    )
    template = parse_template(json.dumps(spec), "t.json")
    assert template.default("steps") == 20
    assert template.default("width") == 832
    assert template.default("negative_prompt") == "blurry"
    assert template.limit("frames") == Limit(5, 121)
    assert template.limit("steps") == GLOBAL_LIMITS["steps"]


def test_load_from_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(minimal_spec(name="mine")), "utf-8")
    template = load_template(path)
    assert template.name == "mine"
    assert template.source == str(path)
    assert load_template(str(path)).name == "mine"


@pytest.mark.parametrize("method", ["latent2rgb", "taesd", "auto", "none"])
def test_a_template_may_name_its_preview_method(method: str) -> None:
    template = parse_template(json.dumps({**minimal_spec(), "preview_method": method}), "x.json")
    assert template.preview_method == method


def test_the_builtins_leave_the_preview_method_to_the_bot(wrapper: Template, native: Template) -> None:
    assert wrapper.preview_method is None and native.preview_method is None
