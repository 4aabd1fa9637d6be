"""The ComfyUI client against the emulator: rendering, errors, recovery, cancel, auth."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from bot.comfy.backend import Backend
from bot.comfy.client import Where
from bot.comfy.errors import (
    BackendDown,
    DownloadTooLarge,
    ExecutionFailed,
    Interrupted,
    PromptLost,
    Stalled,
    TokenRefused,
    ValidationFailed,
)
from bot.comfy.render import RenderHooks, render
from bot.comfy.watch import Progress, Watch, watch_prompt
from bot.workflows import VideoRequest, load_template
from tests.comfy.conftest import FAST_RETRY, FAST_WATCH, Rig
from tests.fakes.comfyui import FakeComfyUI


def _graph(template: str = "wan-wrapper", **params: object) -> dict:
    tpl = load_template(template)
    request = VideoRequest.build(tpl, prompt="一只猫在雨中跳舞 🐱 \"quoted\"", seed=7, frames=17, **params)
    return tpl.render(request.to_params())


@pytest.mark.parametrize("template", ["wan-wrapper", "wan-native"])
async def test_each_builtin_template_renders_a_playable_clip(rig: Rig, tmp_path: Path, template: str) -> None:
    seen: list[Progress] = []
    result = await render(rig.client, rig.events, _graph(template), tmp_path / "out.mp4",
                          max_bytes=50 << 20, watch=FAST_WATCH, hooks=RenderHooks(on_progress=seen.append))
    data = (tmp_path / "out.mp4").read_bytes()
    assert result.bytes == len(data) > 1000 and data[4:8] == b"ftyp"
    sampler = [p for p in seen if p.sampling]
    assert [p.value for p in sampler][-1] == 4 and sampler[-1].max == 4
    assert {p.node_class for p in seen if p.state == "running"} > {p.node_class for p in sampler}
    assert result.queued_s >= 0 and result.running_s > 0
    # The prompt went to ComfyUI unchanged, set by key.
    (accepted,) = rig.fake.accepted
    assert "一只猫在雨中跳舞 🐱 \"quoted\"" in str(accepted.prompt)


async def test_bearer_token_on_http_and_websocket_and_no_origin(tmp_path: Path) -> None:
    async with FakeComfyUI(require_token="s3cret-token") as fake, aiohttp.ClientSession() as session:
        backend = Backend.create(fake.url, session, token="s3cret-token", retry=FAST_RETRY)
        backend.start()
        try:
            assert await backend.events.wait_connected(5.0)
            await render(backend.client, backend.events, _graph(), tmp_path / "o.mp4",
                         max_bytes=50 << 20, watch=FAST_WATCH)
        finally:
            await backend.close()
        assert fake.requests and all(r.headers.get("Authorization") == "Bearer s3cret-token" for r in fake.requests)
        assert not any("Origin" in r.headers for r in fake.requests)


async def test_wrong_token_is_reported_not_retried_forever() -> None:
    async with FakeComfyUI(require_token="right") as fake, aiohttp.ClientSession() as session:
        backend = Backend.create(fake.url, session, token="wrong-token", retry=FAST_RETRY)
        with pytest.raises(TokenRefused) as info:
            await backend.client.queue()
        assert "token is missing or wrong (COMFYUI_TOKEN is set but refused)" in info.value.reason
        assert "wrong-token" not in info.value.reason
        assert isinstance(info.value, BackendDown)  # the bot gives it no work, as for a down one
        assert len(fake.requests_to("/queue")) == 1


async def test_missing_model_file_is_named_with_backend_and_input(rig: Rig) -> None:
    rig.fake.models = {"diffusion_models": [], "text_encoders": ["umt5-xxl-enc-bf16.safetensors"],
                       "vae": ["Wan2_1_VAE_bf16.safetensors"]}
    with pytest.raises(ValidationFailed) as info:
        await rig.client.submit(_graph())
    reason = info.value.reason
    assert "model file 'Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors' is not installed on http://127.0.0.1:" in reason
    assert "(WanVideoModelLoader.model (node 3))" in reason


async def test_missing_node_pack_is_named(rig: Rig) -> None:
    rig.fake.object_info = {k: v for k, v in rig.fake.object_info.items() if not k.startswith("VHS_")}
    with pytest.raises(ValidationFailed) as info:
        await rig.client.submit(_graph())
    assert info.value.missing_packs == ["ComfyUI-VideoHelperSuite"]
    assert "install the ComfyUI-VideoHelperSuite node pack" in info.value.reason


async def test_execution_error_becomes_plain_out_of_memory(rig: Rig, tmp_path: Path) -> None:
    rig.fake.fail_next(1, "oom")
    with pytest.raises(ExecutionFailed) as info:
        await render(rig.client, rig.events, _graph(), tmp_path / "o.mp4", max_bytes=50 << 20, watch=FAST_WATCH)
    assert info.value.out_of_memory
    assert "WanVideoSampler" in info.value.reason
    assert not (tmp_path / "o.mp4").exists()


async def test_server_errors_are_retried_then_succeed(rig: Rig) -> None:
    rig.fake.http_failures(2, status=503)
    snapshot = await rig.client.queue()
    assert snapshot.running == [] and snapshot.pending == []


async def test_persistent_server_errors_mean_backend_down(rig: Rig) -> None:
    rig.fake.http_failures(10, status=500)
    with pytest.raises(BackendDown) as info:
        await rig.client.submit(_graph())
    assert "is not answering (HTTP 500)" in info.value.reason


async def test_lost_response_to_submit_is_idempotent(rig: Rig) -> None:
    """The server queued the prompt but the answer was lost: the retry gets 409, not a twin."""
    prompt_id = str(uuid.uuid4())
    rig.fake.http_failures(1, status=0, path="/prompt", after=True)
    accepted = await rig.client.submit(_graph(), prompt_id=prompt_id)
    assert accepted.prompt_id == prompt_id
    await rig.fake.wait_idle()
    assert [p.prompt_id for p in rig.fake.accepted] == [prompt_id]


async def test_dropped_websocket_mid_job_still_completes(rig: Rig, tmp_path: Path) -> None:
    rig.fake.step_seconds = 0.1
    task = asyncio.create_task(render(rig.client, rig.events, _graph(), tmp_path / "o.mp4",
                                      max_bytes=50 << 20, watch=FAST_WATCH))
    await asyncio.sleep(0.15)
    await rig.fake.drop_websockets()
    result = await asyncio.wait_for(task, 10)  # finished through polling if not via the socket
    assert result.bytes > 0
    assert await rig.events.wait_connected(5.0)  # and the socket came back under the same clientId
    assert rig.events.reconnects == 1


async def test_comfyui_restart_mid_job_reports_the_prompt_lost(rig: Rig, tmp_path: Path) -> None:
    rig.fake.step_seconds = 0.2
    task = asyncio.create_task(render(rig.client, rig.events, _graph(), tmp_path / "o.mp4",
                                      max_bytes=50 << 20, watch=FAST_WATCH))
    await asyncio.sleep(0.2)
    await rig.fake.restart()
    with pytest.raises(PromptLost):
        await asyncio.wait_for(task, 10)


async def test_history_is_read_after_executing_null_not_on_success(rig: Rig) -> None:
    """execution_success comes before history exists; the watcher must not conclude early."""
    rig.fake.history_delay = 0.3
    prompt_id = str(uuid.uuid4())
    async with rig.events.subscription(prompt_id) as sub:
        await rig.client.submit(_graph(), prompt_id=prompt_id)
        entry = await watch_prompt(rig.client, rig.events, prompt_id, watch=FAST_WATCH, subscription=sub)
    assert entry.succeeded and entry.video() is not None


async def test_cancel_pending_removes_it_and_running_interrupts_only_ours(rig: Rig) -> None:
    rig.fake.step_seconds = 0.2
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await rig.client.submit(_graph(), prompt_id=first)
    await rig.client.submit(_graph(), prompt_id=second)
    await asyncio.sleep(0.1)
    assert (await rig.client.locate(second)).where is Where.PENDING
    assert await rig.client.cancel(second) is Where.PENDING
    assert second not in rig.fake.queue_pending
    async with rig.events.subscription(first) as sub:
        assert await rig.client.cancel(first) is Where.RUNNING
        with pytest.raises(Interrupted):
            await watch_prompt(rig.client, rig.events, first, watch=FAST_WATCH, subscription=sub)


async def test_cancel_never_interrupts_someone_elses_prompt(rig: Rig) -> None:
    rig.fake.step_seconds = 0.2
    async with aiohttp.ClientSession() as other_session:
        other = Backend.create(rig.fake.url, other_session, retry=FAST_RETRY)
        theirs = str(uuid.uuid4())
        await other.client.submit(_graph(), prompt_id=theirs)
        ours = str(uuid.uuid4())
        await rig.client.submit(_graph(), prompt_id=ours)
        await asyncio.sleep(0.1)
        assert rig.fake.running == theirs
        await rig.client.cancel(ours)
        assert rig.fake.running == theirs
        assert not rig.fake.requests_to("/interrupt")


async def test_stall_detector_fires_when_nothing_moves(rig: Rig) -> None:
    rig.fake.pause()
    prompt_id = str(uuid.uuid4())
    await rig.client.submit(_graph(), prompt_id=prompt_id)
    watch = Watch(stall_seconds=0.5, poll_connected=0.1, poll_disconnected=0.1)
    with pytest.raises(Stalled):
        await watch_prompt(rig.client, rig.events, prompt_id, watch=watch)


async def test_render_follows_the_id_a_server_older_than_chosen_ids_answered(rig: Rig, tmp_path: Path) -> None:
    rig.fake.ignore_prompt_id = True
    submitted: list[str] = []

    async def on_submitted(prompt_id: str) -> None:
        submitted.append(prompt_id)
    chosen = str(uuid.uuid4())
    result = await render(rig.client, rig.events, _graph(), tmp_path / "o.mp4", max_bytes=50 << 20,
                          watch=FAST_WATCH, hooks=RenderHooks(on_submitted=on_submitted), prompt_id=chosen)
    (accepted,) = rig.fake.accepted
    assert result.prompt_id == accepted.prompt_id != chosen and submitted == [accepted.prompt_id]
    assert result.bytes > 0


async def test_reattach_follows_the_earlier_prompt_without_submitting_again(rig: Rig, tmp_path: Path) -> None:
    rig.fake.step_seconds = 0.05
    earlier = str(uuid.uuid4())
    await rig.client.submit(_graph(), prompt_id=earlier)
    submitted: list[str] = []

    async def on_submitted(prompt_id: str) -> None:
        submitted.append(prompt_id)
    result = await render(rig.client, rig.events, _graph(), tmp_path / "o.mp4", max_bytes=50 << 20,
                          watch=FAST_WATCH, hooks=RenderHooks(on_submitted=on_submitted), prompt_id=earlier,
                          reattach=True)
    assert result.prompt_id == earlier and result.bytes > 0
    assert [p.prompt_id for p in rig.fake.accepted] == [earlier] and submitted == []


@pytest.mark.parametrize("cancel_on_cancel", [True, False])
async def test_a_cancelled_render_leaves_its_prompt_unless_asked(
    rig: Rig, tmp_path: Path, cancel_on_cancel: bool
) -> None:
    rig.fake.pause()
    task = asyncio.create_task(render(rig.client, rig.events, _graph(), tmp_path / "o.mp4", max_bytes=50 << 20,
                                      watch=FAST_WATCH, cancel_on_cancel=cancel_on_cancel))
    await asyncio.wait_for(_until(lambda: bool(rig.fake.queue_pending)), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The CLI's Ctrl-C takes it off; the dispatcher leaves it for the next process to re-attach.
    assert rig.fake.queue_pending == ([] if cancel_on_cancel else [rig.fake.accepted[0].prompt_id])


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_stalled_render_takes_its_prompt_off_the_server(rig: Rig, tmp_path: Path) -> None:
    rig.fake.pause()
    watch = Watch(stall_seconds=0.5, poll_connected=0.1, poll_disconnected=0.1)
    with pytest.raises(Stalled):
        await render(rig.client, rig.events, _graph(), tmp_path / "o.mp4", max_bytes=50 << 20, watch=watch)
    assert rig.fake.queue_pending == []  # it would otherwise render for nobody once the GPU frees up
    assert not list(tmp_path.iterdir())


async def test_queue_position_is_reported_while_waiting(rig: Rig) -> None:
    rig.fake.pause()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for prompt_id in ids:
        await rig.client.submit(_graph(), prompt_id=prompt_id)
    seen: list[Progress] = []
    watch = Watch(stall_seconds=10, poll_connected=0.05, poll_disconnected=0.05)
    task = asyncio.create_task(watch_prompt(rig.client, rig.events, ids[2], watch=watch, on_progress=seen.append))
    await asyncio.sleep(0.2)
    rig.fake.resume()
    await asyncio.wait_for(task, 10)
    positions = [p.position for p in seen if p.state == "queued"]
    assert positions[0] == 2 and 1 in positions


async def test_download_cap_is_enforced(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(DownloadTooLarge):
        await render(rig.client, rig.events, _graph(), tmp_path / "o.mp4", max_bytes=100, watch=FAST_WATCH)
    assert not list(tmp_path.iterdir())


async def test_unreachable_backend_is_down_with_a_plain_reason() -> None:
    async with aiohttp.ClientSession() as session:
        backend = Backend.create("http://127.0.0.1:9", session, retry=FAST_RETRY)
        with pytest.raises(BackendDown) as info:
            await backend.client.system_stats()
    assert info.value.reason.startswith("http://127.0.0.1:9 is not answering")


async def test_a_prompt_waiting_behind_a_long_render_is_not_called_stalled(rig: Rig) -> None:
    """Our prefetched prompt waits while our running one takes longer than the stall limit:
    the running one's events prove the backend is alive, so the waiting one must not stall."""
    rig.fake.steps, rig.fake.step_seconds = 12, 0.1  # 1.2 s per render, stall limit 0.5 s
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    watch = Watch(stall_seconds=0.5, poll_connected=0.1, poll_disconnected=0.1)
    async with rig.events.subscription(first) as sub1, rig.events.subscription(second) as sub2:
        await rig.client.submit(_graph(), prompt_id=first)
        await rig.client.submit(_graph(), prompt_id=second)
        done = await asyncio.gather(
            watch_prompt(rig.client, rig.events, first, watch=watch, subscription=sub1),
            watch_prompt(rig.client, rig.events, second, watch=watch, subscription=sub2))
    assert all(entry.succeeded for entry in done)
