"""A mixed GPU cluster: each backend gets the jobs of the templates it can run (by its check:
node packs, model files, VRAM; and by what ComfyUI rejects), a job nobody can run waits without
blocking the others, and a backend prefers the template whose models it has loaded."""

from __future__ import annotations

from typing import Any

from bot.jobs.dispatcher import Dispatcher
from storage import JobRecord, JobState
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.dispatch_rig import Rig

SMALL, BIG = "wan-wrapper", "wan-wrapper-14b"
BIG_MODEL = "Wan2_1-T2V-14B_fp8_e4m3fn.safetensors"
BOTH = (SMALL, BIG)


def without_big_model(fake: FakeComfyUI) -> None:
    fake.models = {folder: [n for n in names if n != BIG_MODEL] for folder, names in fake.models.items()}


def model_of(graph: dict[str, Any]) -> str:
    return str(graph["3"]["inputs"]["model"])


def view(d: Dispatcher, fake: FakeComfyUI) -> Any:
    return next(v for v in d.backend_views() if v.name == fake.url)


async def test_a_backend_gets_only_the_templates_it_can_run(rig: Rig) -> None:
    async with FakeComfyUI(steps=1) as small, FakeComfyUI(steps=1) as big:
        without_big_model(small)
        d = await rig.start(rig.dispatcher(small, big, templates=BOTH))
        jobs = [await rig.enqueue(u, template=t) for u, t in zip(range(1, 7), [BIG, BIG, BIG, SMALL, SMALL, SMALL])]
        states = await rig.settle(*(j.id for j in jobs))
    assert states == [JobState.DELIVERED] * 6
    assert small.accepted and {model_of(item.prompt) for item in small.accepted} == {
        "Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors"}
    small_view = view(d, small)
    assert small_view.usable and small_view.able == (SMALL,)
    assert f"model file '{BIG_MODEL}' not found in models/diffusion_models" in small_view.unable[BIG]
    assert view(d, big).able == tuple(sorted(BOTH)) and not view(d, big).unable


async def test_a_job_no_backend_can_run_waits_and_blocks_nobody(rig: Rig) -> None:
    async with FakeComfyUI(steps=1) as small:
        without_big_model(small)
        d = await rig.start(rig.dispatcher(small, templates=BOTH))
        stuck = await rig.enqueue(1, template=BIG)
        others = [await rig.enqueue(u, template=SMALL) for u in (2, 3)]
        assert await rig.settle(*(j.id for j in others)) == [JobState.DELIVERED] * 2
        assert (await rig.job(stuck.id)).state is JobState.QUEUED  # kept: a backend may come back
    assert not d.can_run(BIG) and d.can_run(SMALL)


async def test_a_gpu_with_too_little_vram_gets_no_14b_job(rig: Rig) -> None:
    async with FakeComfyUI(steps=1, vram_gb=12) as twelve, FakeComfyUI(steps=1, vram_gb=24) as twentyfour:
        d = await rig.start(rig.dispatcher(twelve, twentyfour, templates=BOTH))
        jobs = [await rig.enqueue(u, template=BIG) for u in (1, 2, 3)]
        assert await rig.settle(*(j.id for j in jobs)) == [JobState.DELIVERED] * 3
    assert not twelve.accepted and len(twentyfour.accepted) == 3
    assert view(d, twelve).unable == {
        BIG: "needs 24 GB of VRAM; this GPU (cuda:0 NVIDIA GeForce RTX (12 GB) : cudaMallocAsync) has 12.0 GB"}


async def test_a_rejected_model_closes_the_backend_to_that_template_only(rig: Rig) -> None:
    async with FakeComfyUI(steps=1) as first, FakeComfyUI(steps=1) as second:
        d = await rig.start(rig.dispatcher(first, second, templates=BOTH))
        without_big_model(first)  # the file went away after the check: ComfyUI refuses the prompt
        big = await rig.enqueue(1, template=BIG)
        assert await rig.settle(big.id) == [JobState.DELIVERED]
        assert not first.accepted and len(second.accepted) == 1  # requeued onto the other one
        assert view(d, first).able == (SMALL,) and BIG in view(d, first).unable
        second.pause()  # the other backend holds its two; the rest must go to the first
        smalls = [await rig.enqueue(u, template=SMALL) for u in (2, 3, 4, 5)]
        await rig.until(lambda: len(first.accepted) >= 2)
        second.resume()
        assert await rig.settle(*(j.id for j in smalls)) == [JobState.DELIVERED] * 4
    assert {model_of(item.prompt) for item in first.accepted} == {"Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors"}


def switches(fake: FakeComfyUI) -> int:
    models = [model_of(item.prompt) for item in fake.accepted]
    return sum(a != b for a, b in zip(models, models[1:]))


async def _alternating_run(rig: Rig, window: int) -> tuple[int, int]:
    """Eight jobs of eight members, alternating templates, queued before one backend starts:
    (model switches on the backend, the most places any job was moved back)."""
    async with FakeComfyUI(steps=1, keep_models=True) as fake:
        jobs = [await rig.enqueue(u, template=BOTH[u % 2]) for u in range(1, 9)]
        await rig.start(rig.dispatcher(fake, templates=BOTH, affinity_window=window))
        assert await rig.settle(*(j.id for j in jobs)) == [JobState.DELIVERED] * 8
        return switches(fake), max([(await rig.job(j.id)).passed_over for j in jobs])


async def test_affinity_groups_a_backends_jobs_by_template_within_the_window(rig: Rig) -> None:
    with_affinity = await _alternating_run(rig, window=4)
    for d in rig.dispatchers:
        await d.stop()
    without = await _alternating_run(rig, window=0)
    assert without == (7, 0)  # strict fair order alternates the models every job
    switched, moved_back = with_affinity
    assert switched < 7 and 0 < moved_back <= 4


async def test_a_cold_backend_starts_on_the_template_fewer_backends_can_run(rig: Rig) -> None:
    async with FakeComfyUI(steps=1, vram_gb=12) as small, FakeComfyUI(steps=1) as both:
        small.pause()
        both.pause()
        jobs = [await rig.enqueue(u, template=t) for u, t in zip(range(1, 5), [SMALL, SMALL, SMALL, BIG])]
        d = await rig.start(rig.dispatcher(small, both, templates=BOTH))
        await rig.until(lambda: len(both.accepted) == 2)
        # The 12 GB card can take only the 1.3B jobs: the one that can run 14B starts there.
        assert model_of(both.accepted[0].prompt) == BIG_MODEL
        assert view(d, both).warm == SMALL  # nothing 14B left: its second is a 1.3B job
        small.resume()
        both.resume()
        assert await rig.settle(*(j.id for j in jobs)) == [JobState.DELIVERED] * 4


async def test_a_job_queued_during_a_claim_round_goes_to_the_idle_backend(rig: Rig) -> None:
    """A round fills every running slot before any prefetch slot, and a backend that found
    nothing is not asked again in that round. A job queued just after the idle backend's empty
    claim must not be prefetched behind the busy backend's prompt (where it would wait a whole
    render while a GPU idles): the next round gives it to the idle backend's running slot."""
    async with FakeComfyUI(steps=6, step_seconds=0.1) as busy, FakeComfyUI(steps=6, step_seconds=0.1) as idle:
        d = await rig.start(rig.dispatcher(busy, idle, prefetch=1))
        claim_next = rig.scheduler.claim_next
        claimed: list[int] = []
        late: list[JobRecord] = []

        async def claim_then_queue(backend: str, *args: Any, **kwargs: Any) -> JobRecord | None:
            job = await claim_next(backend, *args, **kwargs)
            if job is not None:
                claimed.append(job.id)
            elif backend == idle.url and claimed and not late:
                late.append(await rig.enqueue(2))  # arrives mid-round, after the idle backend found nothing
            return job

        rig.scheduler.claim_next = claim_then_queue  # type: ignore[method-assign]
        first = await rig.enqueue(1)
        await rig.until(lambda: bool(late))
        states = await rig.settle(first.id, late[0].id)
    assert states == [JobState.DELIVERED] * 2
    assert [(await rig.job(job.id)).backend for job in (first, late[0])] == [busy.url, idle.url]
    assert len(busy.accepted) == len(idle.accepted) == 1 and d.backend_views()[1].name == idle.url
