"""Image-to-video jobs through the dispatcher, on emulated backends: the picture is uploaded to
the backend that runs the job (again on another one after a failover, not again on a re-attach),
a job whose picture is gone fails plainly, and pictures are swept only when no unfinished job
needs them."""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from bot.jobs import JobState
from bot.jobs.start_images import StartImages
from bot.workflows.start_image import fit_start_image
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.media import first_frame_colour
from tests.jobs.dispatch_rig import Rig

pytestmark = pytest.mark.timeout(60)

ORANGE = (230, 120, 20)


async def kept(images: StartImages, colour: tuple[int, int, int] = ORANGE) -> str:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(out, "PNG")
    return await images.keep(fit_start_image(out.getvalue(), 624, 624))


async def delivered_colour(rig: Rig, job_id: int, tmp_path: Path) -> tuple[int, int, int]:
    (data,) = [data for posted, data in rig.deliveries.calls if posted == job_id]
    clip = tmp_path / f"delivered-{job_id}.mp4"
    clip.write_bytes(data)
    return await asyncio.to_thread(first_frame_colour, clip)


def near(colour: tuple[int, int, int], expected: tuple[int, int, int] = ORANGE) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(colour, expected))


def uploaded_name(job_id: int, ref: str) -> str:
    return f"wanbot/job-{job_id}-{Path(ref).stem[:16]}.png"


async def test_the_picture_goes_to_the_backend_that_runs_the_job(rig: Rig, tmp_path: Path) -> None:
    images = rig.images()
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        ref = await kept(images)
        job = await rig.enqueue_i2v(1, ref)
        await rig.start(rig.dispatcher(fake, images=images))
        (state,) = await rig.settle(job.id)
    assert state is JobState.DELIVERED
    assert fake.input_files == [uploaded_name(job.id, ref)]
    (accepted,) = fake.accepted
    assert accepted.prompt["6"]["inputs"]["image"] == uploaded_name(job.id, ref)
    assert near(await delivered_colour(rig, job.id, tmp_path))
    assert images.path(ref).is_file()  # kept after delivery: Reroll and Same settings start from it


@pytest.mark.parametrize("template", ["wan-native-i2v", "wan-wrapper-i2v"])
async def test_a_failover_uploads_the_picture_to_the_new_backend(rig: Rig, tmp_path: Path, template: str) -> None:
    images = rig.images()
    async with FakeComfyUI(steps=10, step_seconds=0.1) as dying, FakeComfyUI(steps=2, step_seconds=0.01) as healthy:
        healthy.pause()
        d = rig.dispatcher(dying, healthy, prefetch=0, images=images)
        ref = await kept(images)
        # Queued before the dispatcher starts, so its first round gives it to `dying` (the
        # first backend): queued after, it could meet a round that had already passed `dying`.
        job = await rig.enqueue_i2v(1, ref, template)
        await rig.start(d)
        await rig.until(lambda: dying.running is not None)
        assert dying.input_files == [uploaded_name(job.id, ref)] and healthy.input_files == []
        healthy.resume()
        await dying.stop()
        (state,) = await rig.settle(job.id, timeout=20)
    record = await rig.jobs.db.jobs.get(job.id)
    assert state is JobState.DELIVERED and record.attempts == 2
    assert record.backend == d.backend_views()[1].name
    assert healthy.input_files == [uploaded_name(job.id, ref)]
    assert len(healthy.requests_to("/upload/image")) == 1
    assert rig.deliveries.count() == Counter({job.id: 1})
    assert near(await delivered_colour(rig, job.id, tmp_path))


async def test_a_restarted_dispatcher_reattaches_without_uploading_again(rig: Rig) -> None:
    images = rig.images()
    async with FakeComfyUI(steps=8, step_seconds=0.1) as fake:
        first = rig.dispatcher(fake, images=images)
        await rig.start(first)
        job = await rig.enqueue_i2v(1, await kept(images))
        await rig.until(lambda: fake.running is not None)
        await first.stop()  # the process goes away mid-render; ComfyUI keeps rendering
        rig.dispatchers.remove(first)
        await rig.start(rig.dispatcher(fake, images=images))
        (state,) = await rig.settle(job.id, timeout=20)
    assert state is JobState.DELIVERED
    assert len(fake.accepted) == 1 and len(fake.requests_to("/upload/image")) == 1


async def test_a_job_whose_picture_is_gone_fails_with_a_reason(rig: Rig) -> None:
    images = rig.images()
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        ref = await kept(images)
        images.path(ref).unlink()  # an operator cleaned the folder by hand
        job = await rig.enqueue_i2v(1, ref)
        await rig.start(rig.dispatcher(fake, images=images))
        (state,) = await rig.settle(job.id)
    record = await rig.jobs.db.jobs.get(job.id)
    assert state is JobState.FAILED and record.error_code == "image_lost"
    assert "no longer on disk" in (record.error_text or "")
    assert fake.accepted == [] and fake.input_files == []


async def test_start_sweeps_old_pictures_but_never_those_of_unfinished_jobs(rig: Rig) -> None:
    images = rig.images(keep_for=3600)
    waiting = await kept(images, (10, 10, 200))
    forgotten = await kept(images, (200, 10, 10))
    fresh = await kept(images, (10, 200, 10))
    long_ago = time.time() - 7200
    for ref in (waiting, forgotten):
        os.utime(images.path(ref), (long_ago, long_ago))
    async with FakeComfyUI(paused=True) as fake:
        job = await rig.enqueue_i2v(1, waiting)  # queued for two hours, say: its picture must stay
        await rig.start(rig.dispatcher(fake, images=images))
        await rig.reach(job.id, JobState.SUBMITTED, JobState.RUNNING)
    assert images.path(waiting).is_file() and images.path(fresh).is_file()
    assert not images.path(forgotten).exists()


async def test_the_sweep_runs_again_while_the_bot_runs(rig: Rig) -> None:
    images = rig.images(keep_for=3600)
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        await rig.start(rig.dispatcher(fake, images=images, image_sweep_interval=0.05))
        stale = await kept(images)
        long_ago = time.time() - 7200
        os.utime(images.path(stale), (long_ago, long_ago))
        await rig.until(lambda: not images.path(stale).exists(), timeout=5)
