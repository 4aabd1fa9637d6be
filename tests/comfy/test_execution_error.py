"""ComfyUI's `execution_error` payloads, real and realistic, turned into one plain sentence."""

from __future__ import annotations

from typing import Any

from bot.comfy.execution_error import execution_failure
from tests.fakes.comfyui import capture

_BACKEND = "http://gpu1:8188"


def _captured(name: str) -> dict[str, Any]:
    for line in capture("history_sample.json")[name].values():
        return next(m[1] for m in line["status"]["messages"] if m[0] == "execution_error")
    raise AssertionError(name)


def test_a_corrupt_safetensors_file_is_named_from_the_captured_error() -> None:
    data = capture("error_samples.json")["missing_or_invalid_model_file_at_execution"]["ws_execution_error"]["data"]
    failure = execution_failure(data, _BACKEND)
    assert failure.kind == "model_file"
    assert failure.model_file == "wan2.1/Wan2_1_VAE_bf16.safetensors"
    assert failure.reason == (
        "model file 'wan2.1/Wan2_1_VAE_bf16.safetensors' on http://gpu1:8188 is damaged or incomplete "
        "(WanVideoVAELoader could not read it: SafetensorError: Error while deserializing header: header too small): "
        "download it again")


def test_the_same_error_from_history_reads_the_same() -> None:
    failure = execution_failure(_captured("seed_placeholder_models"), _BACKEND)
    assert failure.kind == "model_file" and failure.model_file == "wan2.1/Wan2_1_VAE_bf16.safetensors"


def test_any_other_error_is_one_line_with_node_and_exception() -> None:
    failure = execution_failure(_captured("wanvideowrapper_tiny_random_execution_error"), _BACKEND)
    assert failure.kind == "execution_error" and failure.model_file is None
    assert failure.reason == ("WanVideoSampler (node 6) failed on http://gpu1:8188: RuntimeError: "
                              "mat1 and mat2 must have the same dtype, but got BFloat16 and Float")


def test_out_of_memory_in_its_several_spellings() -> None:
    spellings = [
        ("torch.OutOfMemoryError", "Allocation on device 0 would exceed allowed memory. (out of memory)\nMore"),
        ("torch.cuda.OutOfMemoryError", "CUDA out of memory. Tried to allocate 1.27 GiB (GPU 0; 11.99 GiB total)"),
        ("RuntimeError", "HIP out of memory. Tried to allocate 2.00 GiB"),
    ]
    for exception_type, message in spellings:
        data = {"node_id": "6", "node_type": "KSampler", "exception_type": exception_type,
                "exception_message": message, "current_inputs": {"steps": [15]}}
        failure = execution_failure(data, _BACKEND)
        assert failure.kind == "out_of_memory" and failure.out_of_memory, exception_type
        short_type = exception_type.rsplit(".", 1)[-1]
        assert failure.reason == ("out of GPU memory on http://gpu1:8188: choose a smaller size or a shorter "
                                  f"duration ({short_type} in KSampler, node 6)")


def test_the_scaled_t5_names_the_file_given_and_the_one_to_use() -> None:
    data = {"node_id": "1", "node_type": "LoadWanVideoT5TextEncoder", "exception_type": "RuntimeError",
            "exception_message": 'Error(s) in loading state_dict for T5Encoder:\n\tUnexpected key(s) in '
                                 'state_dict: "scaled_fp8". \n',
            "current_inputs": {"model_name": ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"], "precision": ["bf16"]}}
    failure = execution_failure(data, _BACKEND)
    assert failure.kind == "model_file" and failure.model_file == "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    assert failure.reason == (
        "text encoder 'umt5_xxl_fp8_e4m3fn_scaled.safetensors' on http://gpu1:8188 is the fp8 \"scaled\" umt5-xxl, "
        "which LoadWanVideoT5TextEncoder cannot read: put the non-\"scaled\" umt5-xxl-enc-bf16.safetensors in "
        "models/text_encoders and use that")


def test_a_payload_missing_every_field_still_reads() -> None:
    failure = execution_failure({}, _BACKEND)
    assert failure.kind == "execution_error"
    assert failure.reason == "? (node ?) failed on http://gpu1:8188: error: no message"
