"""Limits: defaults, the guild's override, role deltas (best role wins, no stacking)."""

from __future__ import annotations

import pytest

from bot.jobs import Limits, LimitsError, effective_limits
from bot.jobs.limits import check_limits_json
from storage import GuildSettings

DEFAULTS = Limits(videos_per_hour=5, burst=2, max_active=2, priority=0)
PATRON, BOOSTER, PROBATION = 100, 200, 300


def settings(**kwargs: object) -> GuildSettings:
    return GuildSettings(guild_id=1, **kwargs)  # type: ignore[arg-type]


def test_defaults_apply_without_overrides() -> None:
    assert effective_limits(DEFAULTS, settings()) == DEFAULTS


def test_guild_override_replaces_named_fields_only() -> None:
    limits = effective_limits(DEFAULTS, settings(limits={"videos_per_hour": 12, "burst": 4}))
    assert limits == Limits(videos_per_hour=12, burst=4, max_active=2, priority=0)


def test_role_delta_adds_on_top_of_the_guild() -> None:
    roles = {str(PATRON): {"videos_per_hour": 10, "max_active": 2, "priority": 1}}
    limits = effective_limits(DEFAULTS, settings(limits={"burst": 3}, role_limits=roles), [PATRON])
    assert limits == Limits(videos_per_hour=15, burst=3, max_active=4, priority=1)


def test_several_roles_take_the_best_delta_per_field_not_the_sum() -> None:
    roles = {
        str(PATRON): {"videos_per_hour": 10, "burst": 1},
        str(BOOSTER): {"videos_per_hour": 3, "burst": 2},
    }
    limits = effective_limits(DEFAULTS, settings(role_limits=roles), [PATRON, BOOSTER, 999])
    assert (limits.videos_per_hour, limits.burst) == (15, 4)


def test_negative_delta_is_clamped_at_zero() -> None:
    roles = {str(PROBATION): {"videos_per_hour": -50, "burst": -5}}
    limits = effective_limits(DEFAULTS, settings(role_limits=roles), [PROBATION])
    assert (limits.videos_per_hour, limits.burst) == (0, 0)


@pytest.mark.parametrize(
    "raw", [{"speed": 3}, {"burst": "many"}, {"burst": 1.5}, {"max_active": True}]
)
def test_bad_limits_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(LimitsError):
        check_limits_json(raw)
