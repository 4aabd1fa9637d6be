"""The emulator against the captures of a genuine ComfyUI 0.8.0, through plain aiohttp calls.

If one of these fails, the emulator drifted from the real server, and every test of the bot's
ComfyUI client that relies on it is suspect.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.comfyui import FakeComfyUI, captures_dir
from tests.fakes.comfyui._catalog import capture
from tests.fakes.comfyui._executor import execution_order

ERRORS = capture("error_samples.json")
ENDPOINTS = capture("endpoint_samples.json")
HISTORY = capture("history_sample.json")
REPO = Path(__file__).resolve().parents[2]


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with FakeComfyUI() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def workflow(name: str) -> dict[str, Any]:
    return json.loads((captures_dir() / "workflows" / name).read_text(encoding="utf-8"))


def vhs_graph() -> dict[str, Any]:
    return workflow("vhs_h264_832x480_81frames.json")


def savevideo_graph() -> dict[str, Any]:
    return workflow("core_savevideo_832x480_81frames.json")


def seed_graph() -> dict[str, Any]:
    (entry,) = HISTORY["seed_placeholder_models"].values()
    return copy.deepcopy(entry["prompt"][2])


def trace(job: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header line, websocket messages) of one captured job."""
    lines = [json.loads(line) for line in (captures_dir() / "ws_trace.jsonl").read_text().splitlines()]
    header = next(line for line in lines if line.get("job") == job and "post_response" in line)
    return header, [line["msg"] for line in lines if line.get("job") == job and "msg" in line]


def shape(messages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(m["type"], sorted(m["data"])) for m in messages]


def without_progress(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] not in ("progress", "progress_state")]


def states(messages: list[dict[str, Any]]) -> list[dict[str, tuple[Any, Any, str]]]:
    """Each progress_state as {node: (value, max, state)}."""
    return [{n: (s["value"], s["max"], s["state"]) for n, s in m["data"]["nodes"].items()}
            for m in messages if m["type"] == "progress_state"]


def executing_nodes(messages: list[dict[str, Any]]) -> list[str | None]:
    return [m["data"]["node"] for m in messages if m["type"] == "executing"]


async def post_prompt(http: aiohttp.ClientSession, url: str, graph: Any, **fields: Any) -> tuple[int, Any]:
    async with http.post(f"{url}/prompt", json={"prompt": graph, **fields}) as resp:
        return resp.status, await resp.json()


async def read_job(ws: aiohttp.ClientWebSocketResponse, prompt_id: str) -> list[dict[str, Any]]:
    """Every JSON message until `executing {node: null}` for this prompt."""
    messages: list[dict[str, Any]] = []
    while True:
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        messages.append(json.loads(message.data))
        data = messages[-1]["data"]
        if messages[-1]["type"] == "executing" and data["node"] is None and data.get("prompt_id") == prompt_id:
            return messages


async def run_job(http: aiohttp.ClientSession, fake: FakeComfyUI, graph: dict[str, Any]
                  ) -> tuple[str, list[dict[str, Any]]]:
    client_id = str(uuid.uuid4())
    async with http.ws_connect(f"{fake.ws_url}?clientId={client_id}") as ws:
        status, body = await post_prompt(http, fake.url, graph, client_id=client_id)
        assert status == 200, body
        return body["prompt_id"], await read_job(ws, body["prompt_id"])


async def history_of(http: aiohttp.ClientSession, fake: FakeComfyUI, prompt_id: str) -> dict[str, Any]:
    async with http.get(f"{fake.url}/history/{prompt_id}") as resp:
        assert resp.status == 200
        return await resp.json()


# -- POST /prompt errors, byte for byte --------------------------------------------------------


def _error_cases() -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]]:
    """error_samples.json key -> (graph to send, models to install or None for the default)."""
    unknown = vhs_graph()
    unknown["6"]["class_type"] = "NoSuchNodeType"
    seed_plus = seed_graph()
    seed_plus["9"] = {"class_type": "WanVideoSamplerV2_doesnotexist", "inputs": {}}
    no_width = vhs_graph()
    del no_width["1"]["inputs"]["width"]
    no_link = vhs_graph()
    del no_link["3"]["inputs"]["image2"]
    bad_blend = vhs_graph()
    bad_blend["3"]["inputs"]["blend_mode"] = "bogus"
    bad_format = vhs_graph()
    bad_format["6"]["inputs"]["format"] = "video/bogus-mp4"
    too_small = vhs_graph()
    too_small["1"]["inputs"]["width"] = 0
    not_int = vhs_graph()
    not_int["1"]["inputs"]["width"] = "abc"
    dangling = vhs_graph()
    dangling["3"]["inputs"]["image2"] = ["99", 0]
    no_output = vhs_graph()
    del no_output["6"]
    return {
        "seed_workflow_no_models_installed": (seed_graph(), {}),
        "unknown_class_type": (unknown, None),
        "unknown_class_type_in_seed": (seed_plus, None),
        "missing_required_input": (no_width, None),
        "missing_required_link_input": (no_link, None),
        "invalid_combo_value_v3_node": (bad_blend, None),
        "invalid_combo_value_vhs": (bad_format, None),
        "value_below_min": (too_small, None),
        "invalid_int_value": (not_int, None),
        "link_to_missing_node": (dangling, None),
        "no_output_node": (no_output, None),
    }


@pytest.mark.parametrize("case", sorted(_error_cases()))
async def test_validation_errors_match_the_capture(case: str, http: aiohttp.ClientSession) -> None:
    graph, models = _error_cases()[case]
    async with FakeComfyUI(models=models) as fake:
        async with http.post(f"{fake.url}/prompt", json={"prompt": graph, "client_id": "c"}) as resp:
            assert resp.status == ERRORS[case]["http_status"]
            assert resp.headers["Content-Type"] == ERRORS[case]["content_type"]
            assert await resp.json() == ERRORS[case]["body"]
        assert fake.queue_pending == [] and fake.running is None


async def test_no_prompt_key_and_non_json_body(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{fake.url}/prompt", json={"client_id": "c"}) as resp:
        assert (resp.status, await resp.json()) == (400, ERRORS["no_prompt_key"]["body"])
    async with http.post(f"{fake.url}/prompt", data=b"{not json") as resp:
        sample = ERRORS["invalid_json_body"]
        assert resp.status == sample["http_status"]
        assert resp.headers["Content-Type"] == sample["content_type"]
        assert await resp.text() == sample["body"]


@pytest.mark.parametrize("origin, case", [
    ("http://evil.example", "origin_mismatch"),
    ("http://localhost:{port}", "origin_localhost_vs_127"),
    ("http://127.0.0.1:{port}", "origin_match"),
])
async def test_origin_rule(origin: str, case: str, fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    headers = {"Origin": origin.format(port=fake.port)}
    async with http.post(f"{fake.url}/prompt", json={"prompt": vhs_graph()}, headers=headers) as resp:
        assert resp.status == ERRORS[case]["http_status"]
        if ERRORS[case]["content_type"] is None:
            assert "Content-Type" not in resp.headers and await resp.read() == b""
    async with http.get(f"{fake.url}/queue") as resp:  # no Origin header at all: allowed
        assert resp.status == 200


async def test_model_file_failing_at_run_time(http: aiohttp.ClientSession) -> None:
    sample = ERRORS["missing_or_invalid_model_file_at_execution"]
    async with FakeComfyUI() as fake:
        fake.fail_next(1, "model_load")
        prompt_id, messages = await run_job(http, fake, seed_graph())
        error = next(m["data"] for m in messages if m["type"] == "execution_error")
        expected = sample["ws_execution_error"]["data"]
        assert [m["type"] for m in messages][1:] == sample["ws_types"]
        assert sorted(error) == sorted(expected)
        for key in ("node_id", "node_type", "executed", "exception_message", "exception_type", "current_inputs"):
            assert error[key] == expected[key], key
        assert sorted(error["current_outputs"]) == sorted(expected["current_outputs"])
        status = (await history_of(http, fake, prompt_id))[prompt_id]["status"]
        assert (status["status_str"], status["completed"]) == ("error", False)
        assert [m[0] for m in status["messages"]] == [m[0] for m in sample["history_status"]["messages"]]


async def test_partly_valid_graph_runs_the_good_output(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    graph = vhs_graph()
    graph["7"] = {"class_type": "SaveVideo", "inputs": {"video": ["8", 0], "filename_prefix": "video/x",
                                                        "format": "bogus", "codec": "auto"}}
    graph["8"] = {"class_type": "CreateVideo", "inputs": {"images": ["5", 0], "fps": 16}}
    status, body = await post_prompt(http, fake.url, graph)
    assert status == 200
    assert body["node_errors"]["7"]["errors"][0]["type"] == "value_not_in_list"
    await fake.wait_idle()
    assert list(fake.history[body["prompt_id"]]["outputs"]) == ["6"]


# -- prompt ids ------------------------------------------------------------------------------


async def test_prompt_ids(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    chosen = str(uuid.uuid4())
    status, body = await post_prompt(http, fake.url, vhs_graph(), prompt_id=chosen)
    assert (status, body) == (200, {"prompt_id": chosen, "number": 0, "node_errors": {}})
    status, body = await post_prompt(http, fake.url, vhs_graph(), prompt_id=chosen)
    assert (status, body) == (409, {"error": "prompt_id already exists"})
    await fake.wait_idle()
    status, body = await post_prompt(http, fake.url, vhs_graph(), prompt_id=chosen)  # in history: still taken
    assert status == 409
    for bad in (chosen.upper(), chosen.replace("-", ""), "job-1", str(uuid.uuid1()), 7):
        status, body = await post_prompt(http, fake.url, vhs_graph(), prompt_id=bad)
        assert status == 400 and body["error"]["type"] == "invalid_prompt_id", bad
        assert body["node_errors"] == {}
    status, body = await post_prompt(http, fake.url, vhs_graph())
    assert status == 200 and uuid.UUID(body["prompt_id"]).version == 4


async def test_a_server_older_than_client_chosen_ids_answers_with_its_own(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(ignore_prompt_id=True) as old:
        chosen = str(uuid.uuid4())
        answers = [await post_prompt(http, old.url, vhs_graph(), prompt_id=chosen) for _ in range(2)]
        status, body = await post_prompt(http, old.url, vhs_graph(), prompt_id="job-1")  # not even read
        await old.wait_idle()
    ids = [b["prompt_id"] for _, b in answers]
    assert [s for s, _ in answers] == [200, 200] and status == 200
    assert chosen not in ids and len(set(ids)) == 2 and all(uuid.UUID(i).version == 4 for i in ids)
    assert set(old.history) == {*ids, body["prompt_id"]}


# -- websocket event sequences -----------------------------------------------------------------


async def test_savevideo_job_events_match_the_capture(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    _, captured = trace("cold_core_savevideo")
    prompt_id, messages = await run_job(http, fake, savevideo_graph())
    assert shape(messages) == shape(captured)
    assert states(messages) == states(captured)
    executed = next(m["data"] for m in messages if m["type"] == "executed")
    assert executed["output"] == {"images": [{"filename": "generated_video_00001_.mp4", "subfolder": "video",
                                              "type": "output"}], "animated": [True]}
    assert all(m["data"]["prompt_id"] == prompt_id for m in messages if "prompt_id" in m["data"])


async def test_vhs_job_events_match_the_capture(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    _, captured = trace("cold_vhs_h264")
    _, messages = await run_job(http, fake, vhs_graph())
    assert shape(without_progress(messages)) == shape(without_progress(captured))
    assert executing_nodes(messages) == executing_nodes(captured)


async def test_core_wan_job_matches_the_capture_including_progress(http: aiohttp.ClientSession) -> None:
    _, captured = trace("core_wan_tiny_random_64x64_5f_2steps")
    async with FakeComfyUI(steps=None) as fake:  # steps from the graph, like the real sampler
        _, messages = await run_job(http, fake, workflow("core_wan_tiny_random_64x64_5f_2steps.json"))
    assert shape(messages) == shape(captured)
    assert states(messages) == states(captured)
    progress = [(m["data"]["node"], m["data"]["value"], m["data"]["max"]) for m in messages if m["type"] == "progress"]
    assert progress == [(m["data"]["node"], m["data"]["value"], m["data"]["max"])
                        for m in captured if m["type"] == "progress"]


async def test_seed_graph_reports_progress_from_loader_and_sampler(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=3) as fake:
        _, messages = await run_job(http, fake, seed_graph())
    progress = [m["data"] for m in messages if m["type"] == "progress"]
    nodes = {p["node"] for p in progress}
    assert {"3", "6"} <= nodes  # WanVideoModelLoader parameters, WanVideoSampler steps
    assert [p["value"] for p in progress if p["node"] == "6"] == [1, 2, 3]
    assert {p["max"] for p in progress if p["node"] == "6"} == {3}
    assert executing_nodes(messages)[0] == "5"  # the captured seed job also started at the VAE loader


@pytest.mark.parametrize("job, graph", [
    ("cold_core_savevideo", savevideo_graph()),
    ("cold_vhs_h264", vhs_graph()),
    ("core_wan_tiny_random_64x64_5f_2steps", workflow("core_wan_tiny_random_64x64_5f_2steps.json")),
    ("seed_placeholder_models", seed_graph()),
])
def test_execution_order_matches_every_trace(job: str, graph: dict[str, Any]) -> None:
    _, captured = trace(job)
    outputs = [n for n, node in graph.items() if node["class_type"] in ("SaveVideo", "VHS_VideoCombine")]
    order = execution_order(graph, outputs, capture("object_info_subset.json"))
    ran = [n for n in executing_nodes(captured) if n is not None]
    assert order[: len(ran)] == ran


async def test_history_is_written_after_success_and_before_executing_null(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(history_delay=0.3) as fake:
        client_id = str(uuid.uuid4())
        async with http.ws_connect(f"{fake.ws_url}?clientId={client_id}") as ws:
            _, body = await post_prompt(http, fake.url, vhs_graph(), client_id=client_id)
            prompt_id = body["prompt_id"]
            while (await ws.receive_json(timeout=5))["type"] != "execution_success":
                pass
            assert await history_of(http, fake, prompt_id) == {}  # the ordering trap
            assert (await ws.receive_json(timeout=5))["type"] == "status"
            final = await ws.receive_json(timeout=5)
            assert final == {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}
            entry = (await history_of(http, fake, prompt_id))[prompt_id]
            assert entry["status"]["status_str"] == "success"


async def test_history_shapes_match_the_capture(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    vhs_id, _ = await run_job(http, fake, vhs_graph())
    save_id, _ = await run_job(http, fake, savevideo_graph())
    vhs_id2, _ = await run_job(http, fake, vhs_graph())
    (vhs_sample,) = HISTORY["cold_vhs_h264"].values()
    (save_sample,) = HISTORY["cold_core_savevideo"].values()
    vhs = (await history_of(http, fake, vhs_id))[vhs_id]
    save = (await history_of(http, fake, save_id))[save_id]
    for ours, sample in ((vhs, vhs_sample), (save, save_sample)):
        assert list(ours) == list(sample)
        assert list(ours["status"]) == list(sample["status"])
        assert [m[0] for m in ours["status"]["messages"]] == [m[0] for m in sample["status"]["messages"]]
        assert ours["meta"].keys() == sample["meta"].keys()
        assert len(ours["prompt"]) == 5 and ours["prompt"][4] == sample["prompt"][4]
    assert vhs["outputs"]["6"]["gifs"][0] == {**vhs_sample["outputs"]["6"]["gifs"][0],
                                              "filename": "generated_video_00001.mp4",
                                              "workflow": "generated_video_00001.png",
                                              "fullpath": "/srv/ComfyUI/output/generated_video_00001.mp4"}
    assert vhs["prompt"][2]["6"]["inputs"]["frame_rate"] == 16.0  # FLOAT converted, as the server does
    later = (await history_of(http, fake, vhs_id2))[vhs_id2]
    assert later["outputs"]["6"]["gifs"][0]["filename"] == "generated_video_00002.mp4"
    assert save["outputs"]["7"] == {"images": [{"filename": "generated_video_00001_.mp4", "subfolder": "video",
                                                "type": "output"}], "animated": [True]}
    async with http.get(f"{fake.url}/history", params={"max_items": "1"}) as resp:
        assert list(await resp.json()) == [vhs_id2]
    async with http.get(f"{fake.url}/history") as resp:
        assert list(await resp.json()) == [vhs_id, save_id, vhs_id2]


async def test_events_without_client_id_reach_others_as_captured(fake: FakeComfyUI,
                                                                 http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(f"{fake.ws_url}?clientId=watcher") as ws:
        await ws.receive_json(timeout=5)
        await post_prompt(http, fake.url, seed_graph())  # no client_id
        await fake.wait_idle()
        seen: list[str] = []
        while not ws.closed:
            try:
                seen.append((await ws.receive_json(timeout=0.2))["type"])
            except TimeoutError:
                break
    sample = ENDPOINTS["POST /prompt without client_id; types seen by another ws client"]
    captured = sample["types_seen_by_other_client"]
    assert set(seen) == set(captured) == {"status", "progress_state", "progress"}
    assert seen[0] == "status" and seen[-1] == "status"


# -- /view ------------------------------------------------------------------------------------


async def test_view_serves_a_real_mp4(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    save_id, _ = await run_job(http, fake, savevideo_graph())
    item = fake.history[save_id]["outputs"]["7"]["images"][0]
    params = {"filename": item["filename"], "subfolder": item["subfolder"], "type": item["type"]}
    async with http.get(f"{fake.url}/api/view", params=params) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp4"
        body = await resp.read()
    assert body[4:8] == b"ftyp" and len(body) > 1000
    async with http.get(f"{fake.url}/view", params={"filename": item["filename"]}) as resp:
        assert resp.status == 404  # subfolder dropped: the seed client's bug


@pytest.mark.parametrize("params, status", [
    ({"filename": "../secret.mp4"}, 400),
    ({"filename": "/etc/passwd"}, 400),
    ({"filename": ""}, 400),
    ({"filename": "x.mp4", "subfolder": "../../etc"}, 403),
    ({"filename": "x.mp4", "type": "models"}, 400),
    ({"filename": "missing.mp4"}, 404),
    ({}, 404),
])
async def test_view_guards(params: dict[str, str], status: int, fake: FakeComfyUI,
                           http: aiohttp.ClientSession) -> None:
    async with http.get(f"{fake.url}/view", params=params) as resp:
        assert resp.status == status
        assert await resp.read() == b""


async def test_view_serves_temp_outputs_and_custom_bytes(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(video_bytes=b"not really a video") as fake:
        graph = vhs_graph()
        graph["6"]["inputs"].update(save_output=False, filename_prefix="wanbot/clip")
        prompt_id, _ = await run_job(http, fake, graph)
        item = fake.history[prompt_id]["outputs"]["6"]["gifs"][0]
        assert (item["type"], item["subfolder"], item["filename"]) == ("temp", "wanbot", "clip_00001.mp4")
        async with http.get(f"{fake.url}/view", params={"filename": item["filename"], "subfolder": "wanbot",
                                                       "type": "temp"}) as resp:
            assert await resp.read() == b"not really a video"


# -- queue, cancel, interrupt ------------------------------------------------------------------


async def test_queue_order_front_and_delete(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(paused=True) as fake:
        ids = [(await post_prompt(http, fake.url, vhs_graph()))[1]["prompt_id"] for _ in range(3)]
        _, front = await post_prompt(http, fake.url, vhs_graph(), front=True)
        assert fake.queue_pending == [front["prompt_id"], *ids]
        async with http.get(f"{fake.url}/queue") as resp:
            body = await resp.json()
        assert body["queue_running"] == []
        assert sorted(item[0] for item in body["queue_pending"]) == [-3, 0, 1, 2]
        async with http.get(f"{fake.url}/api/prompt") as resp:
            assert await resp.json() == {"exec_info": {"queue_remaining": 4}}
        async with http.post(f"{fake.url}/queue", json={"delete": [ids[1], "not-there"]}) as resp:
            assert (resp.status, await resp.read()) == (200, b"")
        assert fake.queue_pending == [front["prompt_id"], ids[0], ids[2]]
        fake.resume()
        await fake.wait_idle()
        assert set(fake.history) == {front["prompt_id"], ids[0], ids[2]}
        assert next(iter(fake.history)) == front["prompt_id"]


async def test_delete_never_touches_the_running_prompt(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=50, step_seconds=0.01) as fake:
        _, body = await post_prompt(http, fake.url, seed_graph())
        while fake.running is None:
            await asyncio.sleep(0.005)
        async with http.post(f"{fake.url}/queue", json={"delete": [body["prompt_id"]]}):
            pass
        await fake.wait_idle()
        assert fake.history[body["prompt_id"]]["status"]["status_str"] == "success"


async def test_interrupt_only_stops_the_named_running_prompt(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=200, step_seconds=0.01) as fake:
        client_id = "int-client"
        async with http.ws_connect(f"{fake.ws_url}?clientId={client_id}") as ws:
            _, first = await post_prompt(http, fake.url, seed_graph(), client_id=client_id)
            _, second = await post_prompt(http, fake.url, seed_graph(), client_id=client_id)
            while fake.running != first["prompt_id"]:
                await asyncio.sleep(0.005)
            # Naming a pending prompt interrupts nothing.
            async with http.post(f"{fake.url}/interrupt", json={"prompt_id": second["prompt_id"]}) as resp:
                assert (resp.status, await resp.read()) == (200, b"")
            await asyncio.sleep(0.05)
            assert fake.running == first["prompt_id"]
            async with http.post(f"{fake.url}/api/interrupt", json={"prompt_id": first["prompt_id"]}):
                pass
            messages = await read_job(ws, first["prompt_id"])
            types = [m["type"] for m in messages]
            assert types[-3:] == ["execution_interrupted", "status", "executing"]
            interrupted = messages[-3]["data"]
            expected = ENDPOINTS["ws execution_interrupted message"]["data"]
            assert sorted(interrupted) == sorted(expected)
            assert interrupted["node_type"] == "WanVideoSampler" and "3" in interrupted["executed"]
            entry = (await history_of(http, fake, first["prompt_id"]))[first["prompt_id"]]
            sample = ENDPOINTS["GET /history/<interrupted id> status"]
            assert (entry["status"]["status_str"], entry["status"]["completed"]) == ("error", False)
            assert [m[0] for m in entry["status"]["messages"]] == [m[0] for m in sample["messages"]]
            assert fake.running == second["prompt_id"]  # the next prompt starts
            async with http.post(f"{fake.url}/interrupt", data=b""):  # global interrupt, empty body
                pass
            await fake.wait_idle()
        assert fake.history[second["prompt_id"]]["status"]["status_str"] == "error"


async def test_injected_execution_failure_is_oom_in_the_sampler(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(fail_execution=1, steps=4) as fake:
        prompt_id, messages = await run_job(http, fake, seed_graph())
        error = next(m["data"] for m in messages if m["type"] == "execution_error")
        assert (error["node_id"], error["exception_type"]) == ("6", "torch.OutOfMemoryError")
        assert [m["data"]["value"] for m in messages if m["type"] == "progress" and m["data"]["node"] == "6"] == [1, 2]
        assert fake.history[prompt_id]["outputs"] == {}
        ok_id, _ = await run_job(http, fake, seed_graph())  # only the next N fail
        assert fake.history[ok_id]["status"]["status_str"] == "success"


async def test_scaled_t5_file_fails_in_the_kijai_loader(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    graph = seed_graph()
    graph["1"]["inputs"]["model_name"] = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    _, messages = await run_job(http, fake, graph)
    error = next(m["data"] for m in messages if m["type"] == "execution_error")
    assert error["node_type"] == "LoadWanVideoT5TextEncoder"


# -- forgetting: restart and dropped sockets ---------------------------------------------------


async def test_restart_forgets_everything_on_the_same_port(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI() as fake:
        done_id, _ = await run_job(http, fake, vhs_graph())
        fake.pause()
        _, pending = await post_prompt(http, fake.url, vhs_graph())
        port = fake.port
        async with http.ws_connect(f"{fake.ws_url}?clientId=r") as ws:
            await ws.receive_json(timeout=5)
            await fake.restart(downtime=0.05)
            closed = await ws.receive(timeout=5)
            assert closed.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
        assert fake.port == port
        assert await history_of(http, fake, done_id) == {}
        async with http.get(f"{fake.url}/queue") as resp:
            assert await resp.json() == ENDPOINTS["GET /queue"]["body"]
        fake.resume()
        status, body = await post_prompt(http, fake.url, vhs_graph())
        assert (status, body["number"]) == (200, 0)  # the counter restarts with the process
        assert pending["prompt_id"] not in fake.history


async def test_events_are_lost_while_the_socket_is_gone(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=40, step_seconds=0.01) as fake:
        async with http.ws_connect(f"{fake.ws_url}?clientId=d") as ws:
            await ws.receive_json(timeout=5)
            _, body = await post_prompt(http, fake.url, seed_graph(), client_id="d")
            while fake.executor.last_node_id != "6":
                await asyncio.sleep(0.005)
            await fake.drop_websockets()
            while (message := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                pass  # what was already on the wire still arrives
            assert message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        async with http.ws_connect(f"{fake.ws_url}?clientId=d") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["data"]["sid"] == "d"
            # Reconnecting mid-prompt: the current node, and no prompt_id (as in server.py).
            assert await ws.receive_json(timeout=5) == {"type": "executing", "data": {"node": "6"}}
            rest = await read_job(ws, body["prompt_id"])
        assert "execution_start" not in [m["type"] for m in rest]  # never replayed
        assert fake.history[body["prompt_id"]]["status"]["status_str"] == "success"


# -- token, injected HTTP failures, recording --------------------------------------------------


async def test_token_is_required_everywhere(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(require_token="secret") as fake:
        async with http.get(f"{fake.url}/system_stats") as resp:
            assert resp.status == 401
        async with http.get(f"{fake.url}/system_stats", headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        async with http.get(f"{fake.url}/api/system_stats", headers={"Authorization": "Bearer secret"}) as resp:
            assert resp.status == 200
        async with http.get(f"{fake.url}/queue?token=secret") as resp:
            assert resp.status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{fake.ws_url}?clientId=t")
        assert refused.value.status == 401
        async with http.ws_connect(f"{fake.ws_url}?clientId=t&token=secret") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "status"
        async with http.ws_connect(f"{fake.ws_url}?clientId=t", headers={"Authorization": "Bearer secret"}) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "status"
        recorded = fake.requests_to("/system_stats")
        assert [r.bearer for r in recorded] == [None, "wrong", "secret"]
        assert all("Origin" not in r.headers for r in fake.requests)


async def test_injected_http_failures(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    fake.http_failures(2, status=502)
    for _ in range(2):
        async with http.get(f"{fake.url}/system_stats") as resp:
            assert resp.status == 502
    async with http.get(f"{fake.url}/system_stats") as resp:
        assert resp.status == 200
    # Only the named route fails; the prompt is queued although the client sees a 500.
    fake.http_failures(1, path="/prompt", after=True)
    async with http.get(f"{fake.url}/queue") as resp:
        assert resp.status == 200
    async with http.post(f"{fake.url}/api/prompt", json={"prompt": vhs_graph()}) as resp:
        assert resp.status == 500
    await fake.wait_idle()
    assert len(fake.history) == 1 and len(fake.accepted) == 1
    # aiohttp retries an idempotent request once when a reused connection drops: drop twice.
    fake.http_failures(2, status=0, path="/history")
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{fake.url}/history?max_items=1") as resp:
            await resp.read()
    body = fake.requests_to("/prompt", "POST")[0].json()
    assert body["prompt"]["6"]["class_type"] == "VHS_VideoCombine"


# -- capability endpoints ------------------------------------------------------------------------


async def test_capability_endpoints(http: aiohttp.ClientSession) -> None:
    models = {"diffusion_models": ["a.safetensors"], "text_encoders": ["t.safetensors"], "vae": []}
    async with FakeComfyUI(models=models) as fake:
        async def get(path: str) -> tuple[int, Any]:
            async with http.get(f"{fake.url}{path}") as resp:
                return resp.status, (await resp.json() if resp.status == 200 else await resp.read())

        assert await get("/models") == (200, ENDPOINTS["GET /models"]["body"])
        assert await get("/api/models/diffusion_models") == (200, ["a.safetensors"])
        assert await get("/models/unet") == (404, b"")
        assert await get("/object_info/NoSuchNode") == (200, {})
        assert await get("/features") == (200, ENDPOINTS["GET /features"]["body"])
        assert await get("/embeddings") == (200, [])
        assert await get("/history/nope") == (200, {})
        _, stats = await get("/system_stats")
        assert stats["system"]["comfyui_version"] == "0.8.0" and stats["devices"][0]["type"] == "cpu"
        _, info = await get("/object_info/WanVideoModelLoader")
        assert info["WanVideoModelLoader"]["input"]["required"]["model"][0] == ["a.safetensors"]
        _, info = await get("/object_info")
        assert info["VAELoader"]["input"]["required"]["vae_name"] == [["pixel_space"]]
        assert info["CLIPLoader"]["input"]["required"]["clip_name"][0] == ["t.safetensors"]
        fake.models = {**models, "vae": ["v.safetensors"]}  # install a file while running
        assert await get("/models/vae") == (200, ["v.safetensors"])


def test_default_models_cover_the_captured_and_reference_workflows() -> None:
    from tests.fakes.comfyui import default_models

    models = default_models()
    assert "tiny_random/core_wan2.1_t2v_tiny_random_dim128_2layers_bf16.safetensors" in models["diffusion_models"]
    assert "wan2.1_t2v_1.3B_fp16.safetensors" in models["diffusion_models"]
    assert "Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors" in models["diffusion_models"]
    assert {"umt5-xxl-enc-bf16.safetensors", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"} <= set(models["text_encoders"])
    assert {"wan_2.1_vae.safetensors", "Wan2_1_VAE_bf16.safetensors"} <= set(models["vae"])


# -- the standalone process --------------------------------------------------------------------


async def test_cli_runs_standalone(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.comfyui", "--port", "0", "--root", str(tmp_path), "--ignore-prompt-id",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        chosen = str(uuid.uuid4())
        status, body = await post_prompt(http, match.group(1), vhs_graph(), prompt_id=chosen)
        assert status == 200 and body["prompt_id"] != chosen  # --ignore-prompt-id
        for _ in range(200):
            if (tmp_path / "output" / "generated_video_00001.mp4").exists():
                break
            await asyncio.sleep(0.01)
        assert (tmp_path / "output" / "generated_video_00001.mp4").read_bytes()[4:8] == b"ftyp"
        proc.terminate()  # SIGTERM: a clean stop
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_cli_help_mentions_the_port() -> None:
    result = subprocess.run([sys.executable, "-m", "tests.fakes.comfyui", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=30, check=True)
    assert "--port" in result.stdout


async def test_the_most_prompts_held_at_once_is_recorded_per_client_and_survives_restarts(
        http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(paused=True) as fake:
        for client in ("a", "a", "b"):
            await post_prompt(http, fake.url, vhs_graph(), client_id=client)
        fake.resume()
        await fake.wait_idle()
        await post_prompt(http, fake.url, vhs_graph(), client_id="b")
        await fake.wait_idle()
        await fake.restart()
        assert fake.most_held == 3
        assert fake.most_held_by_client == {"a": 2, "b": 1}
