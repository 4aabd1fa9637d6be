"""Per-user limits and how guild and role overrides combine into the limits a member gets.

Three layers, applied in order:
1. `Limits` defaults (from the operator's settings).
2. The guild's override (`GuildSettings.limits`): any field it names replaces the default.
3. Role deltas (`GuildSettings.role_limits`: role id -> {field: delta}): added on top. When a
   member holds several roles, each field takes the largest delta among those roles, not the
   sum: roles are badges, and stacking "patron" + "booster" + "event" should not silently
   multiply someone's allowance beyond what any single role was meant to give.
The result is clamped at zero (a negative delta can take a "probation" role down to nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from storage import GuildSettings

__all__ = ["Limits", "LimitsError", "LIMIT_FIELDS", "check_limits_json", "effective_limits"]


@dataclass(frozen=True)
class Limits:
    """What one member may do. `priority`: higher is served earlier (0 for everyone else)."""

    videos_per_hour: float = 5.0
    burst: int = 2
    max_active: int = 2
    priority: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.videos_per_hour / 3600.0


LIMIT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Limits))
_INTEGER_FIELDS = frozenset({"burst", "max_active", "priority"})


class LimitsError(ValueError):
    """An admin-supplied limit is not a known field or not a number."""


def _number(name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LimitsError(f"{name} must be a number, not {value!r}")
    if name in _INTEGER_FIELDS:
        if value != int(value):
            raise LimitsError(f"{name} must be a whole number, not {value!r}")
        return int(value)
    return float(value)


def check_limits_json(raw: Mapping[str, Any]) -> dict[str, float | int]:
    """Validate an override or a delta before it is saved; returns it with clean types."""
    unknown = set(raw) - set(LIMIT_FIELDS)
    if unknown:
        raise LimitsError(f"unknown limit {sorted(unknown)[0]!r}; known: {', '.join(LIMIT_FIELDS)}")
    return {name: _number(name, value) for name, value in raw.items()}


def _best_deltas(deltas: Iterable[Mapping[str, Any]]) -> dict[str, float | int]:
    best: dict[str, float | int] = {}
    for delta in deltas:
        for name, value in check_limits_json(delta).items():
            best[name] = max(best.get(name, value), value)
    return best


def _clamped(limits: Limits) -> Limits:
    return replace(
        limits,
        videos_per_hour=max(0.0, limits.videos_per_hour),
        burst=max(0, limits.burst),
        max_active=max(0, limits.max_active),
    )


def effective_limits(
    defaults: Limits, settings: GuildSettings, role_ids: Iterable[int] = ()
) -> Limits:
    """The limits for a member of `settings.guild_id` holding `role_ids`."""
    limits = replace(defaults, **check_limits_json(settings.limits))
    role_deltas = (settings.role_limits[str(r)] for r in role_ids if str(r) in settings.role_limits)
    for name, delta in _best_deltas(role_deltas).items():
        limits = replace(limits, **{name: getattr(limits, name) + delta})
    return _clamped(limits)
