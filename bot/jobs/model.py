"""Who asks for a video and what they ask for, as the job layer sees it (no Discord types).

`JobState`, `JobRecord`, the transition table and the state groups live in `storage.records`
because the store enforces them; they are re-exported here so callers in `bot/` and `cogs/`
import one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage import ACTIVE_STATES, FINISHED_STATES, TRANSITIONS, JobRecord, JobState

__all__ = [
    "Requester",
    "JobRequest",
    "JobState",
    "JobRecord",
    "TRANSITIONS",
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "job_cost",
    "COST_DEFAULTS",
]

# The seed's defaults, used for any dimension a request leaves out.
COST_DEFAULTS: dict[str, int] = {"frames": 81, "width": 832, "height": 480, "steps": 15}


def job_cost(params: Mapping[str, Any]) -> int:
    """Work units of one render: frames x pixels x steps. Diffusion time grows roughly
    linearly in each (attention makes it super-linear in pixels, but within one template's
    range linear is close enough for an ETA)."""
    value = {name: int(params.get(name) or default) for name, default in COST_DEFAULTS.items()}
    return value["frames"] * value["width"] * value["height"] * value["steps"]


@dataclass(frozen=True)
class Requester:
    """The member behind a request; `role_ids` select per-role limits."""

    guild_id: int
    channel_id: int
    user_id: int
    locale: str = "en"
    role_ids: tuple[int, ...] = ()
    is_admin: bool = False


@dataclass(frozen=True)
class JobRequest:
    """A validated request (the cog's pydantic model has already checked every value)."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> int:
        return job_cost(self.params)

    @property
    def texts(self) -> tuple[str, ...]:
        """What the moderation check reads: the prompt and the negative prompt."""
        return tuple(
            str(self.params[key]) for key in ("prompt", "negative_prompt") if self.params.get(key)
        )
