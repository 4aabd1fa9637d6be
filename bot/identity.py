"""Who this process is among several on one queue: a new identity at every start.

`id` names the process in the store (the owner of the jobs it holds under its lease, and who
claimed a job) and is its ComfyUI clientId, so that a prompt's progress goes to the websocket of
the process that queued it, and whoever adopts the job later knows which clientId to listen as.
It is new at each start: a restarted process is a new owner (its previous identity's jobs are
adopted like anyone's) and never takes over the websocket an adopter is listening on. `name`
(host and pid) is for people reading logs.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

__all__ = ["ProcessIdentity"]


@dataclass(frozen=True)
class ProcessIdentity:
    id: str
    name: str

    @classmethod
    def new(cls) -> ProcessIdentity:
        return cls(uuid.uuid4().hex, f"{socket.gethostname()}:{os.getpid()}")

    @property
    def short(self) -> str:
        """The first characters of `id`: enough to tell processes apart in a log line."""
        return self.id[:8]

    def __str__(self) -> str:
        return f"{self.name} ({self.short})"
