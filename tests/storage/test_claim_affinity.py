"""The claim's contract for a mixed cluster (`JobStore.claim_next`): per-template eligibility,
warm-model affinity, and the bound on how far affinity moves any job back.

These tests use only the store's public interface (create, claim_next, transition, reads), so
another engine's store must pass them as they are. `_Model` is the rule of the interface's
docstring written out in plain Python; the randomized runs check the store against it claim by
claim, and check the bound itself.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Collection
from dataclasses import dataclass

import pytest

from storage import Database, JobRecord, JobState, Store
from tests.storage.conftest import T0, OpenDb, new_job, queue

SMALL, BIG = "wan-wrapper", "wan-wrapper-14b"
_PROMPTS = itertools.count()


async def _claim(db: Database, *, templates: Collection[str] | None = None, prefer: str | None = None,
                 window: int = 0, exclude: Collection[int] = ()) -> JobRecord | None:
    return await db.jobs.claim_next("gpu", f"p-{next(_PROMPTS)}", T0, exclude, templates=templates,
                                    prefer=prefer, window=window)


async def _passed(db: Database) -> dict[int, int]:
    return {job.id: job.passed_over for job in await db.jobs.in_states([JobState.QUEUED])}


async def test_a_backend_only_takes_templates_it_can_run(db: Database) -> None:
    big, small, big2 = await queue(db, new_job(1, template=BIG), new_job(2, template=SMALL),
                                   new_job(3, template=BIG))
    assert await _claim(db, templates=[]) is None  # a backend that can run nothing
    taken = await _claim(db, templates=[SMALL])
    assert taken is not None and taken.id == small.id
    assert await _claim(db, templates=[SMALL]) is None  # the big jobs do not block, and stay
    assert set(await _passed(db)) == {big.id, big2.id}
    assert (await _claim(db)).id == big.id  # type: ignore[union-attr]  # None: any template


async def test_prefer_without_a_window_is_pure_fair_order(db: Database) -> None:
    first, _ = await queue(db, new_job(1, template=BIG), new_job(2, template=SMALL))
    taken = await _claim(db, prefer=SMALL, window=0)
    assert taken is not None and taken.id == first.id
    assert set((await _passed(db)).values()) == {0}


async def test_affinity_takes_the_first_warm_job_and_counts_those_it_passes(db: Database) -> None:
    a, b, c, d = await queue(db, new_job(1, template=BIG), new_job(2, template=BIG),
                             new_job(3, template=SMALL), new_job(4, template=SMALL))
    taken = await _claim(db, prefer=SMALL, window=4)
    assert taken is not None and taken.id == c.id and taken.passed_over == 0
    assert await _passed(db) == {a.id: 1, b.id: 1, d.id: 0}


async def test_a_job_passed_over_window_times_goes_before_any_preferred_job(db: Database) -> None:
    (stuck,) = await queue(db, new_job(1, template=BIG))
    await queue(db, *(new_job(2, template=SMALL) for _ in range(5)))
    taken = [await _claim(db, prefer=SMALL, window=2) for _ in range(3)]
    assert [job.template for job in taken if job] == [SMALL, SMALL, BIG]
    assert taken[2] is not None and taken[2].id == stuck.id and taken[2].passed_over == 2


async def test_the_bound_holds_across_backends(db: Database) -> None:
    """Two backends warm on different templates share one count per job."""
    (stuck,) = await queue(db, new_job(1, template="other"))
    await queue(db, *(new_job(2, template=t) for t in (SMALL, BIG, SMALL, BIG)))
    first = await _claim(db, prefer=SMALL, window=2)
    second = await _claim(db, prefer=BIG, window=2)
    third = await _claim(db, prefer=SMALL, window=2)
    assert (first.template, second.template) == (SMALL, BIG)  # type: ignore[union-attr]
    assert third is not None and third.id == stuck.id


async def test_affinity_never_crosses_a_priority_class(db: Database) -> None:
    high, _ = await queue(db, new_job(1, template=BIG, priority_class=-1, round=5),
                          new_job(2, template=SMALL, round=0))
    taken = await _claim(db, prefer=SMALL, window=4)
    assert taken is not None and taken.id == high.id
    assert set((await _passed(db)).values()) == {0}


async def test_jobs_a_backend_cannot_take_are_not_counted_as_passed(db: Database) -> None:
    paused, unrunnable, runnable, warm = await queue(
        db, new_job(1, guild_id=1, template=BIG), new_job(2, template="other"),
        new_job(3, template=BIG), new_job(4, template=SMALL))
    taken = await _claim(db, templates=[SMALL, BIG], prefer=SMALL, window=4, exclude=[1])
    assert taken is not None and taken.id == warm.id
    assert await _passed(db) == {paused.id: 0, unrunnable.id: 0, runnable.id: 1}


async def test_no_warm_job_takes_the_head_and_counts_nothing(db: Database) -> None:
    head, _ = await queue(db, new_job(1, template=BIG), new_job(2, template=BIG))
    taken = await _claim(db, prefer=SMALL, window=4)
    assert taken is not None and taken.id == head.id
    assert set((await _passed(db)).values()) == {0}


async def test_a_requeued_job_keeps_its_count(db: Database) -> None:
    passed, _ = await queue(db, new_job(1, template=BIG), new_job(2, template=SMALL))
    await _claim(db, prefer=SMALL, window=3)
    again = await _claim(db)
    assert again is not None and again.id == passed.id and again.passed_over == 1
    assert await db.jobs.transition(again.id, JobState.SUBMITTED, JobState.QUEUED, T0)
    assert (await _passed(db)) == {passed.id: 1}


# ----------------------------------------------------------------------------- the model


@dataclass
class _Job:
    id: int
    template: str
    guild: int
    priority_class: int
    round: int
    passed: int = 0

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.priority_class, self.round, self.id)


class _Model:
    """The interface's rule, in plain Python."""

    def __init__(self) -> None:
        self.queued: dict[int, _Job] = {}

    def pick(self, templates: Collection[str] | None, exclude: Collection[int], prefer: str | None,
             window: int) -> _Job | None:
        candidates = sorted((j for j in self.queued.values()
                             if (templates is None or j.template in templates) and j.guild not in exclude),
                            key=lambda j: j.key)
        if not candidates:
            return None
        head = candidates[0]
        chosen = head
        if prefer is not None and window > 0:
            pref = next((j for j in candidates if j.template == prefer and j.priority_class == head.priority_class),
                        None)
            if pref is not None and pref is not head:
                ahead = [j for j in candidates if j.key < pref.key]
                if all(j.passed < window for j in ahead):
                    for j in ahead:
                        j.passed += 1
                    chosen = pref
        del self.queued[chosen.id]
        return chosen


@pytest.mark.parametrize("seed", range(8))
async def test_claims_follow_the_rule_and_the_bound_holds(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    window = rng.choice([1, 2, 4])
    templates = [SMALL, BIG, "wan-native"]
    model = _Model()
    worst = 0
    for _ in range(160):
        if rng.random() < 0.45 or not model.queued:
            job = new_job(rng.randint(1, 6), guild_id=rng.choice([1, 2]), round=rng.randint(0, 12),
                          priority_class=-1 if rng.random() < 0.1 else 0, template=rng.choice(templates))
            (record,) = await queue(db, job)
            model.queued[record.id] = _Job(record.id, job.template, job.guild_id, job.priority_class, job.round)
            continue
        able = rng.choice([None, [SMALL], [SMALL, BIG], templates, [BIG, "wan-native"]])
        prefer = rng.choice([None, *templates])
        exclude = [1] if rng.random() < 0.15 else []
        expected = model.pick(able, exclude, prefer, window)
        taken = await _claim(db, templates=able, prefer=prefer, window=window, exclude=exclude)
        assert (taken.id if taken else None) == (expected.id if expected else None)
        if taken is not None and rng.random() < 0.2:  # the backend lost it: back to the queue
            assert await db.jobs.transition(taken.id, JobState.SUBMITTED, JobState.QUEUED, T0)
            model.queued[taken.id] = _Job(taken.id, taken.template, taken.guild_id, taken.priority_class,
                                          taken.round, taken.passed_over)
        assert await _passed(db) == {j.id: j.passed for j in model.queued.values()}
        worst = max([worst, *(j.passed for j in model.queued.values())])
    assert worst <= window


async def test_two_stores_with_affinity_never_claim_the_same_job_and_the_bound_holds(open_db: OpenDb) -> None:
    """Two processes' stores on one database, each claiming with its own warm template while
    plain claims race them: every job is taken once, and none is passed over beyond the window."""
    first, second = await open_db(), await open_db()
    await queue(first, *(new_job(n % 5, template=(SMALL, BIG)[n % 3 == 0]) for n in range(60)))

    async def claim(db: Store, name: str, n: int, prefer: str | None) -> int | None:
        job = await db.jobs.claim_next(name, f"{name}-{n}", T0, templates=[SMALL, BIG], prefer=prefer, window=2)
        return None if job is None else job.id

    results = await asyncio.gather(*(claim(first, "a", n, SMALL) for n in range(25)),
                                   *(claim(second, "b", n, BIG) for n in range(25)),
                                   *(claim(first, "c", n, None) for n in range(10)))
    taken = [job_id for job_id in results if job_id is not None]
    assert len(taken) == len(set(taken))
    assert max([0, *(await _passed(first)).values()]) <= 2
    rest = [await claim(second, "d", n, None) for n in range(60)]
    assert sorted(taken + [job_id for job_id in rest if job_id is not None]) == list(range(1, 61))
