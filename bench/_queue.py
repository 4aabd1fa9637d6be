"""What the queue benches share: a throwaway PostgreSQL (pgserver, from the test extra) or SQLite
file, admission and the scheduler wired as `Services.open` wires them (with limits generous
enough that nothing is refused: the benches measure the path, not the policy), and the stream
of requests they queue (job n from member n mod members, over 20 guilds)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import _common  # noqa: F401  (puts the repository on sys.path)

from bot.jobs import Admission, EtaModel, JobRequest, Limits, RateLimiter, Requester, Scheduler, SystemClock
from storage import Store

__all__ = ["BACKENDS", "GUILDS", "wire", "request_of", "enqueue_all", "postgres_server", "temporary_store",
           "database_url"]

BACKENDS = ("gpu-1", "gpu-2", "gpu-3", "gpu-4")
GUILDS = 20


def wire(db: Store, jobs: int, backends: Sequence[str] = BACKENDS) -> tuple[Admission, Scheduler]:
    clock = SystemClock()
    rate = RateLimiter(db.quotas, clock)
    scheduler = Scheduler(db, clock, rate, eta=EtaModel(db.runs, clock), backends=backends)
    limits = Limits(videos_per_hour=10_000, burst=1_000, max_active=1_000)
    return Admission(db, scheduler, rate, clock, defaults=limits, max_queued=jobs * 2), scheduler


def request_of(n: int, users: int, template: str = "wan-native") -> tuple[Requester, JobRequest]:
    user = n % users
    requester = Requester(guild_id=1000 + user % GUILDS, channel_id=1, user_id=user)
    params = {"prompt": f"clip {n}: a cat surfing a wave at sunset", "seed": n, "frames": 81}
    return requester, JobRequest(template, params)


async def enqueue_all(admission: Admission, jobs: int, users: int, concurrency: int,
                      template_of: Callable[[int], str] = lambda _n: "wan-native") -> float:
    """`Admission.submit` for every job, `concurrency` in flight at once; jobs per second."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await admission.submit(*request_of(n, users, template_of(n)))

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(jobs)))
    return jobs / (time.perf_counter() - start)


@contextmanager
def postgres_server(folder: Path) -> Iterator[str]:
    """A PostgreSQL started in `folder` with pgserver's defaults (fsync on); its URL."""
    import pgserver  # the test extra

    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@asynccontextmanager
async def temporary_store(engine: str) -> AsyncIterator[str | Path]:
    """Where the bench's store lives: a temporary SQLite file or a temporary PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as tmp:
        if engine == "sqlite":
            yield Path(tmp) / "queue.db"
            return
        with postgres_server(Path(tmp) / "pg") as url:
            yield url


def database_url(server_url: str, name: str) -> str:
    """`server_url` pointing at the database `name`."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
