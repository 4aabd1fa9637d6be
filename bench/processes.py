"""Several `wanbot run` processes on one PostgreSQL: how fast a dead process's video moves on, and
how fast `/video` is acknowledged when three processes share the queue.

Three real processes (one gateway shard each, their own disk), a pgserver PostgreSQL, the fake
Discord and the ComfyUI emulator in this process. Two figures:
1. Adoption: a video renders (the owner relays the sampler's steps to its card); the process
   that holds it is SIGKILLed; the time from the kill to the first edit of that card made by the
   process that adopted it. `--trials` times (the killed process is started again between
   trials). Target: at most the lease + 2 s.
2. `/video` acknowledgement: a burst of `--burst` requests from `--users` members spread over the
   three guilds (so over the three processes), sent over `--spread` seconds, the emulator paused
   (the queue only grows). INTERACTION_CREATE -> the defer callback, as the fake timestamps them.
   Target: p99 under 100 ms, none late (Discord's 3 s: error 10062).

    .venv/bin/python bench/processes.py [--processes 3] [--trials 10] [--lease 15] [--burst 500]
        [--users 200] [--spread 1.0]

The bench shares the machine with its fakes and PostgreSQL: on a small machine the burst is
CPU-bound (each process spends a few ms of CPU per /video), and the acknowledgement latency says
as much about the cores as about the bot; compare `--processes` and `--spread` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (sys.path)
from _common import report, summary_ms

from bot.jobs import JobState
from storage import Store, open_store
from tests.e2e._video_helpers import job_id_of
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser, FakeWorld, InteractionHandle, StoredMessage
from tests.fakes.discord.messages import MessageEdit
from tests.ops._process import BotProcess
from tests.stores import RestartablePostgres

PROCESSES = 3  # the default of --processes
ACK_TARGET_MS = 100.0
ADOPTION_MARGIN_S = 2.0


def _world(processes: int, users: int) -> tuple[FakeWorld, list[tuple[FakeUser, FakeGuild]]]:
    world = FakeWorld.sharded(processes, crowd=users)
    return world, world.crowd_members()


class Cluster:
    def __init__(self, tmp: Path, discord: FakeDiscord, comfy: FakeComfyUI, url: str, lease: float) -> None:
        self.discord = discord
        self.processes = []
        count = len(discord.world.guilds)  # one process per shard, one guild per shard
        for shard in range(count):
            disk = tmp / f"p{shard}"
            disk.mkdir(parents=True)
            self.processes.append(BotProcess.configure(
                disk, discord_url=discord.url, discord_token=discord.token, comfy_url=comfy.url, WANBOT_DB=url,
                WANBOT_DATA_DIR=str(disk), WANBOT_SHARD_COUNT=str(count), WANBOT_SHARD_IDS=str(shard),
                WANBOT_LEASE_SECONDS=f"{lease:g}", WANBOT_VIDEOS_PER_HOUR="100000", WANBOT_BURST="100000",
                WANBOT_MAX_ACTIVE="1000", WANBOT_MAX_QUEUED="100000", WANBOT_LOG_LEVEL="INFO"))

    async def __aenter__(self) -> Cluster:
        for process in self.processes:
            await process.start()
        for process in self.processes:
            await process.wait_healthy(timeout=60)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.proc is not None and process.proc.returncode is None:
                await process.terminate(timeout=30)
            await process.kill()

    def holding(self, owner: str) -> BotProcess:
        """The process whose identity is `owner` (each logs its own at start)."""
        for process in self.processes:
            if f"({owner[:8]}) (lease" in process.text:
                return process
        raise LookupError(f"no process is {owner}")


async def _until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


async def _send(discord: FakeDiscord, user: FakeUser, guild: FakeGuild, prompt: str) -> InteractionHandle:
    channel = discord.world.channel_named("videos", guild)
    return await discord.slash("video", {"prompt": prompt}, user=user, channel=channel)


def _edits_after(card: StoredMessage, since: float) -> list[MessageEdit]:
    """The card's edits since `since`: the adopter's (the dead process makes none, and no other
    job moves meanwhile). With the bot token, or with the interaction's when the adopter is the
    process that took the /video and still holds its token."""
    return [edit for edit in card.edits if edit.at >= since and "embeds" in edit.changes]


async def _adoption_trial(cluster: Cluster, store: Store, comfy: FakeComfyUI, member: tuple[FakeUser, FakeGuild],
                          n: int) -> tuple[float, bool]:
    """Seconds from the kill to the adopter's first card edit, and whether it showed steps."""
    handle = await _send(cluster.discord, member[0], member[1], f"trial {n}")
    await handle.acked(timeout=10)
    await handle.wait_for_edit(timeout=10)
    card = handle.original
    assert card is not None
    job_id = job_id_of(card)

    async def rendering() -> Any:
        job = await store.jobs.get(job_id)
        return job if job is not None and job.state is JobState.RUNNING and "step" in str(card.embeds) else None
    job = await _until(rendering, 30, "the job rendering with steps on its card")
    assert job.owner is not None
    victim = cluster.holding(job.owner)
    killed_at = cluster.discord.state.clock.now()
    await victim.kill()

    async def adopted_edit() -> Any:
        return _edits_after(card, killed_at) or None
    first_edit = (await _until(adopted_edit, 120, "the adopter's card edit"))[0]
    steps = "step" in str(first_edit.changes)
    await store.jobs.transition(job_id, JobState.RUNNING, JobState.CANCELLED, time.time(), cancelled_by=1)
    await _until(lambda: _done(comfy), 30, "the cancelled prompt off the GPU")
    await victim.start()
    await victim.wait_healthy(timeout=60)
    return first_edit.at - killed_at, steps


async def _done(comfy: FakeComfyUI) -> bool:
    return comfy.running is None and not comfy.queue_pending


async def _adoption(tmp: Path, processes: int, trials: int, lease: float) -> dict[str, Any]:
    world, members = _world(processes, processes)
    (tmp / "pg").mkdir(parents=True)
    server = RestartablePostgres(tmp / "pg")
    try:
        store = await open_store(server.url)
        async with FakeComfyUI(steps=2000, step_seconds=0.05) as comfy, FakeDiscord(world) as discord:
            async with Cluster(tmp / "adoption", discord, comfy, server.url, lease) as cluster:
                samples = [await _adoption_trial(cluster, store, comfy, members[n % len(members)], n)
                           for n in range(trials)]
        await store.close()
    finally:
        server.cleanup()
    return {"seconds": [s for s, _ in samples], "with_steps": sum(steps for _, steps in samples)}


async def _burst(tmp: Path, processes: int, count: int, users: int, spread: float) -> dict[str, Any]:
    world, members = _world(processes, users)
    (tmp / "pg").mkdir(parents=True)
    server = RestartablePostgres(tmp / "pg")
    try:
        async with FakeComfyUI(paused=True) as comfy, FakeDiscord(world) as discord:
            async with Cluster(tmp / "burst", discord, comfy, server.url, 15.0):
                gap = spread / count
                started = time.monotonic()
                handles = []
                for n in range(count):
                    user, guild = members[n % users]
                    handles.append(await _send(discord, user, guild, f"clip {n}"))
                    if gap:
                        await asyncio.sleep(max(0.0, started + (n + 1) * gap - time.monotonic()))
                sent_in = time.monotonic() - started
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not all(h.original is not None and h.original.embeds
                                                              for h in handles):
                    await asyncio.sleep(0.05)
                answered = sum(h.original is not None and bool(h.original.embeds) for h in handles)
                acks = [h.ack.latency_ms / 1000 for h in handles if h.ack is not None]
                late = discord.error_codes().count(10062)
    finally:
        server.cleanup()
    return {"acks": acks, "answered": answered, "late": late, "sent_in_s": round(sent_in, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=PROCESSES, help="at least 2 (one is killed)")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--lease", type=float, default=15.0, help="WANBOT_LEASE_SECONDS of the processes")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--spread", type=float, default=1.0, help="seconds over which the burst is sent")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="wanbot-bench-processes-"))
    try:
        burst = asyncio.run(_burst(tmp / "b", args.processes, args.burst, args.users, args.spread))
        adoption = asyncio.run(_adoption(tmp / "a", args.processes, args.trials, args.lease))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = adoption["seconds"]
    median, worst = statistics.median(seconds), max(seconds)
    target = args.lease + ADOPTION_MARGIN_S
    acks = summary_ms(burst["acks"])
    rows = [
        (f"adoption: kill -> adopter's card edit, median of {len(seconds)}", f"{median:.2f} s",
         f"<= {target:g} s", "ok" if median <= target else "MISSED"),
        ("adoption: max", f"{worst:.2f} s", f"<= {target:g} s", "ok" if worst <= target else "MISSED"),
        ("adoption: first edit already showed steps", f"{adoption['with_steps']}/{len(seconds)}", "", ""),
        (f"/video ack p50, {args.burst} from {args.users} members, {args.processes} processes", f"{acks['median_ms']} ms",
         "", ""),
        ("/video ack p99", f"{acks['p99_ms']} ms", f"< {ACK_TARGET_MS:g} ms",
         "ok" if acks["p99_ms"] < ACK_TARGET_MS else "MISSED"),
        ("/video ack max / late (10062)", f"{acks['max_ms']} ms / {burst['late']}", "0 late",
         "ok" if burst["late"] == 0 else "MISSED"),
        ("answered with a card", f"{burst['answered']}/{args.burst}", "all", ""),
    ]
    title = (f"processes: {args.processes} wanbot run processes on one PostgreSQL (pgserver), lease {args.lease:g} s; "
             f"burst sent over {burst['sent_in_s']} s; fakes in this process")
    report("processes", title, rows, {
        "processes": args.processes, "lease_s": args.lease, "trials": len(seconds),
        "adoption_median_s": round(median, 3), "adoption_max_s": round(worst, 3),
        "adoption_samples_s": [round(s, 3) for s in seconds], "adoption_first_edit_with_steps": adoption["with_steps"],
        "burst": args.burst, "users": args.users, "spread_s": args.spread, "sent_in_s": burst["sent_in_s"],
        "ack_p50_ms": acks["median_ms"], "ack_p99_ms": acks["p99_ms"], "ack_max_ms": acks["max_ms"],
        "late": burst["late"], "answered": burst["answered"],
    })


if __name__ == "__main__":
    main()
