"""The crash test's worker: the production dispatcher in its own process, there to be SIGKILLed.

    python -m tests.crash.worker --db PATH|URL --comfyui URL --deliveries PATH [--run LABEL]
        [--data-dir DIR] [--lease SECONDS]

It wires everything through `Services.open` exactly as the bot does, then adds what only the
test needs (none of it belongs in production code):
- `PostLog`, a durable Deliver that is idempotent the way the Discord one must be: it looks for
  its own earlier post of the job before posting. A post is a row in its own SQLite file, so
  "posted" and the dispatcher's later `delivered` are two separate durable writes with a crash
  window between them; every post is its own row (no UNIQUE constraint to hide a double post).
- fault hooks: with WANBOT_CRASH_AT="<from>-><to>:<n>" the process SIGKILLs itself right after
  the n-th such transition commits ("queued->submitted" is the claim); "deliver:before:<n>" and
  "deliver:after:<n>" kill it just before / just after the n-th durable post.
- a periodic kick: the test enqueues from its own process, and the dispatcher only looks at
  the queue when kicked.

Stdout, one line each (the test reads it back from a file): "identity <id>" (the process's
identity: the owner of the jobs it holds), "edge <from>-><to> <job>" for every committed
transition, "progress <job> <state> <value>/<max>" for each progress report it relays, "ready"
once recovery is done and claiming has started, "reused <job> <message>" when a re-run delivery
found its earlier post, and "crash-at <point>" just before a hook kills the process. Logs go to
stderr. SIGTERM closes cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sqlite3
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.comfy.watch import Progress, Watch
from bot.jobs.dispatcher import DeliveryFailed, DispatchConfig, Dispatcher, JobObserver
from bot.logs import install
from bot.services import Services
from bot.settings import load_settings
from storage import Database, JobRecord, JobState

__all__ = ["CRASH_ENV", "MAX_ATTEMPTS", "CrashPoint", "Post", "PostLog", "main"]

CRASH_ENV = "WANBOT_CRASH_AT"
# Emulator restarts requeue jobs on purpose; the bound must not turn that into failures.
MAX_ATTEMPTS = 6
KICK_SECONDS = 0.2
# A killed worker's jobs wait this long before its successor adopts them: short, so that the
# test's many kills stay quick.
LEASE_SECONDS = 1.0
UPLOAD_SECONDS = 0.02  # the "upload": other jobs move meanwhile, as with a real post
# The successor hears a re-attached prompt's events on the dead worker's client id; polling
# fast is the backup for the moments in between (a kill mid-event), so the test stays short.
FAST_WATCH = Watch(stall_seconds=60.0, poll_connected=0.25, poll_disconnected=0.1, history_grace=0.5)


def say(line: str) -> None:
    """One protocol line on stdout, flushed at once: the next instant may be a SIGKILL."""
    print(line, flush=True)


@dataclass
class CrashPoint:
    """Where this process dies: the `nth` time `name` is passed."""

    name: str
    nth: int
    seen: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> CrashPoint | None:
        """"submitted->running:2" -> CrashPoint("submitted->running", 2); empty -> None."""
        if not spec:
            return None
        name, _, nth = spec.rpartition(":")
        if not name or not nth.isdigit() or int(nth) < 1:
            raise ValueError(f"{CRASH_ENV}={spec!r}: expected '<point>:<n>' with n >= 1")
        return cls(name, int(nth))

    def passed(self, name: str) -> None:
        if name != self.name:
            return
        self.seen += 1
        if self.seen == self.nth:
            say(f"crash-at {self.name}:{self.nth}")
            os.kill(os.getpid(), signal.SIGKILL)


def passed(point: CrashPoint | None, name: str) -> None:
    if point is not None:
        point.passed(name)


def install_hooks(db: Database, point: CrashPoint | None) -> None:
    """Wrap the two store methods that move a job, on this process's store instance only.

    The hook runs after the statement returned, i.e. after SQLite committed it: the kill lands
    between this transition and whatever the dispatcher would do next."""
    jobs = db.jobs
    transition, claim_next = jobs.transition, jobs.claim_next

    async def transition_hooked(job_id: int, from_state: JobState, to_state: JobState, now: float,
                                **fields: Any) -> bool:
        moved = await transition(job_id, from_state, to_state, now, **fields)
        if moved:
            edge = f"{from_state.value}->{to_state.value}"
            say(f"edge {edge} {job_id}")
            passed(point, edge)
        return moved

    async def claim_hooked(backend: str, prompt_id: str, now: float, exclude_guilds: Any = (),
                           **rule: Any) -> JobRecord | None:
        job = await claim_next(backend, prompt_id, now, exclude_guilds, **rule)
        if job is not None:
            say(f"edge queued->submitted {job.id}")
            passed(point, "queued->submitted")
        return job

    jobs.transition = transition_hooked  # type: ignore[method-assign]
    jobs.claim_next = claim_hooked  # type: ignore[method-assign]


@dataclass(frozen=True)
class Post:
    seq: int
    job_id: int
    message_id: int
    run: str
    size: int


class PostLog:
    """A Deliver that "posts" by appending a row to an SQLite file, and never posts twice."""

    _SCHEMA = ("CREATE TABLE IF NOT EXISTS posts (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
               "job_id INTEGER NOT NULL, message_id INTEGER NOT NULL, run TEXT NOT NULL, "
               "size INTEGER NOT NULL, posted_at REAL NOT NULL)")

    def __init__(self, path: Path, *, run: str, point: CrashPoint | None = None) -> None:
        self.path = path
        self.run = run
        self.point = point
        with closing(self._connect()) as conn:
            conn.execute(self._SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # Autocommit, rollback journal, synchronous=FULL (the default): a post that returned
        # is on disk, whatever happens to this process next.
        return sqlite3.connect(self.path, isolation_level=None, timeout=10)

    async def __call__(self, job: JobRecord, video: Path) -> int:
        earlier = await asyncio.to_thread(self._find, job.id)
        if earlier is not None:
            # Posted by a process that died before storing `delivered`: the same message.
            say(f"reused {job.id} {earlier}")
            return earlier
        data = await asyncio.to_thread(video.read_bytes)
        if data[4:8] != b"ftyp":
            raise DeliveryFailed(f"{video.name} is not an MP4", permanent=True)
        await asyncio.sleep(UPLOAD_SECONDS)
        passed(self.point, "deliver:before")
        message_id = await asyncio.to_thread(self._post, job.id, len(data))
        passed(self.point, "deliver:after")
        return message_id

    def _find(self, job_id: int) -> int | None:
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT message_id FROM posts WHERE job_id = ? ORDER BY seq LIMIT 1",
                               (job_id,)).fetchone()
        return int(row[0]) if row else None

    def _post(self, job_id: int, size: int) -> int:
        message_id = (1 << 60) | secrets.randbits(59)  # snowflake-sized, distinct per post
        with closing(self._connect()) as conn:
            conn.execute("INSERT INTO posts (job_id, message_id, run, size, posted_at) VALUES (?, ?, ?, ?, ?)",
                         (job_id, message_id, self.run, size, time.time()))
        return message_id

    @staticmethod
    def read(path: Path) -> list[Post]:
        """Every post ever made, in order (for the test, once no worker runs)."""
        if not path.exists():
            return []
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute("SELECT seq, job_id, message_id, run, size FROM posts ORDER BY seq").fetchall()
        return [Post(*row) for row in rows]


async def kick_forever(dispatcher: Dispatcher) -> None:
    """Jobs appear in the shared database without the in-process kick that enqueue gives."""
    while True:
        await asyncio.sleep(KICK_SECONDS)
        dispatcher.kick()


class SayProgress(JobObserver):
    """Says each progress report of a job followed here ("progress <job> <state> <value>/<max>"):
    whether a process hears the sampler's steps of a prompt it adopted."""

    async def on_progress(self, job: JobRecord, progress: Progress) -> None:
        say(f"progress {job.id} {progress.state} {progress.value}/{progress.max}")


async def serve(args: argparse.Namespace) -> None:
    settings = load_settings(database=args.db, comfyui_urls=args.comfyui, workflow="wan-native",
                             max_attempts=MAX_ATTEMPTS, http_port=0, data_dir=args.data_dir)
    config = DispatchConfig(output_dir=settings.output_dir, max_attempts=settings.max_attempts,
                            health_interval=0.2, delivery_backoff=0.05, watch=FAST_WATCH, lease=args.lease)
    services = await Services.open(settings, dispatch=config)
    say(f"identity {config.identity.id}")
    point = CrashPoint.parse(os.environ.get(CRASH_ENV))
    install_hooks(services.db, point)  # before start(): recovery's transitions count too
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await services.start(PostLog(args.deliveries, run=args.run, point=point), SayProgress())
    kicker = asyncio.create_task(kick_forever(services.dispatcher))
    say("ready")
    await stop.wait()
    kicker.cancel()
    await services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a SQLite file or a postgresql:// URL")
    parser.add_argument("--data-dir", type=Path, default=None, help="WANBOT_DATA_DIR (default: beside the file)")
    parser.add_argument("--lease", type=float, default=LEASE_SECONDS, help="WANBOT_LEASE_SECONDS")
    parser.add_argument("--comfyui", action="append", required=True, help="a ComfyUI URL (repeatable)")
    parser.add_argument("--deliveries", type=Path, required=True, help="the PostLog's SQLite file")
    parser.add_argument("--run", default="0", help="a label stored with each post")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    install(level="INFO")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
