"""Node classes to the stages a person understands, and the overall share of a render done."""

from __future__ import annotations

from bot.comfy.stages import NODE_STAGES, OverallProgress, Stage, stage_of
from bot.comfy.watch import Progress
from bot.workflows import BUILTIN_TEMPLATES, load_template
from tests.fakes.comfyui import captured_object_info


def test_every_node_of_the_builtin_workflows_has_a_row_in_the_table() -> None:
    for name in BUILTIN_TEMPLATES:
        for class_type in load_template(name).node_classes():
            assert class_type in NODE_STAGES, (name, class_type)


def test_the_table_speaks_of_stages_not_nodes() -> None:
    assert stage_of("WanVideoModelLoader") is Stage.LOADING and stage_of("UNETLoader") is Stage.LOADING
    assert stage_of("WanVideoTextEncode") is Stage.ENCODING and stage_of("CLIPTextEncode") is Stage.ENCODING
    assert stage_of("WanVideoSampler") is Stage.SAMPLING and stage_of("KSampler") is Stage.SAMPLING
    assert stage_of("WanVideoDecode") is Stage.DECODING and stage_of("VAEDecode") is Stage.DECODING
    assert stage_of("VHS_VideoCombine") is Stage.SAVING and stage_of("SaveVideo") is Stage.SAVING
    assert [s.label for s in (Stage.LOADING, Stage.ENCODING, Stage.SAMPLING, Stage.DECODING, Stage.SAVING)] == [
        "loading models", "encoding prompt", "sampling", "decoding", "saving"]


def test_classes_outside_the_table_fall_back_on_their_names() -> None:
    assert stage_of("CheckpointLoaderSimple") is Stage.LOADING
    assert stage_of("SamplerCustomAdvanced") is Stage.SAMPLING
    assert stage_of("VAEDecodeTiled") is Stage.DECODING
    assert stage_of("SaveAnimatedWEBP") is Stage.SAVING
    assert stage_of("ImageBlend") is Stage.WORKING and stage_of("") is Stage.WORKING
    for class_type in captured_object_info():  # nothing the captured server offers crashes it
        stage_of(class_type)


def _run(graph_name: str) -> tuple[OverallProgress, dict[str, str]]:
    graph = load_template(graph_name).workflow
    classes = {node_id: node["class_type"] for node_id, node in graph.items()}
    return OverallProgress(graph), classes


def _at(node: str, classes: dict[str, str], value: int = 0, maximum: int = 0) -> Progress:
    return Progress("p", state="running", node=node, node_class=classes[node], value=value, max=maximum)


def test_the_share_done_grows_with_nodes_and_sampler_steps_and_never_falls() -> None:
    overall, classes = _run("wan-wrapper")
    order = ["5", "4", "1", "2", "3", "6", "7", "8"]  # ComfyUI's order for this graph
    seen = [overall.update(Progress("p", state="queued"))]
    for node in order[:5]:
        seen.append(overall.update(_at(node, classes)))
    for step in range(1, 16):
        seen.append(overall.update(_at("6", classes, step, 15)))
    sampled = seen[-1]
    for node in order[6:]:
        seen.append(overall.update(_at(node, classes)))
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] < 1.0
    assert 0.75 <= sampled <= 0.9  # sampling is most of a render


def test_cached_loaders_count_as_done_once_sampling_starts() -> None:
    overall, classes = _run("wan-native")
    sampler = next(n for n, c in classes.items() if c == "KSampler")
    # A warm run: ComfyUI skips every loader and the text encoders (execution_cached).
    first_step = overall.update(_at(sampler, classes, 1, 10))
    assert 0.1 < first_step < 0.3
