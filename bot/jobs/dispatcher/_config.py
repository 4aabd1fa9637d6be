"""What the dispatcher is told when it is built: who it is, depths, bounds, intervals, the
lease and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.comfy.watch import Watch
from bot.identity import ProcessIdentity

__all__ = ["DispatchConfig"]


@dataclass
class DispatchConfig:
    output_dir: Path = Path("data/outputs")
    prefetch: int = 1  # prompts waiting in ComfyUI's queue beyond the running one
    # Warm-model affinity: how many places a job may be moved back, in all, so that backends
    # get jobs of the template whose models they have loaded (0: pure fair order).
    affinity_window: int = 4
    max_attempts: int = 3
    health_interval: float = 5.0
    image_sweep_interval: float = 3600.0  # start pictures past their keep time are removed this often
    # The claim loop is woken by the store's change notices; this slow poll is the safety net
    # for notices lost while a PostgreSQL listener reconnects.
    poll_interval: float = 15.0
    max_download_bytes: int = 512 << 20
    delivery_retries: int = 4  # after the first try (five tries in all)
    delivery_backoff: float = 1.0
    watch: Watch = field(default_factory=Watch)
    clock: Callable[[], float] = time.time
    # This process among several on one queue: the owner of the jobs it holds, and the ComfyUI
    # clientId its backends' clients must use (its prompts' events go there).
    identity: ProcessIdentity = field(default_factory=ProcessIdentity.new)
    # Seconds a claim or an adoption holds a job without being renewed (the heartbeat renews
    # every third of it): how long a dead process's jobs wait before another one adopts them.
    lease: float = 15.0

    @property
    def heartbeat(self) -> float:
        return self.lease / 3
