"""The delivery's memory of recent tries: kept while a try runs and a while after, bounded."""

from __future__ import annotations

import pytest

from bot.delivery.attempts import PostAttempts
from bot.jobs import ManualClock


def test_a_try_is_remembered_while_it_runs_and_for_keep_seconds_after() -> None:
    clock = ManualClock()
    attempts = PostAttempts(clock.now, keep=60)
    assert 7 not in attempts
    with attempts.attempt(7):
        clock.advance(3600)  # a long try is never forgotten while it runs
        assert 7 in attempts
    clock.advance(59)
    assert 7 in attempts
    clock.advance(2)
    assert 7 not in attempts and len(attempts) == 0


def test_a_failed_try_is_remembered_too_and_a_new_try_starts_the_clock_again() -> None:
    clock = ManualClock()
    attempts = PostAttempts(clock.now, keep=60)
    with pytest.raises(ConnectionResetError), attempts.attempt(7):
        raise ConnectionResetError  # the post may have gone out anyway
    clock.advance(50)
    with attempts.attempt(7):
        pass
    clock.advance(50)
    assert 7 in attempts


def test_at_most_limit_finished_jobs_are_kept_oldest_first_out() -> None:
    clock = ManualClock()
    attempts = PostAttempts(clock.now, limit=3)
    for job_id in range(1, 6):
        with attempts.attempt(job_id):
            clock.advance(1)
    assert len(attempts) == 3
    assert [j for j in range(1, 6) if j in attempts] == [3, 4, 5]
    with attempts.attempt(3):  # tried again: now the newest
        pass
    with attempts.attempt(6):
        pass
    assert [j for j in range(1, 7) if j in attempts] == [3, 5, 6]


def test_nonsense_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        PostAttempts(ManualClock().now, keep=0)
    with pytest.raises(ValueError):
        PostAttempts(ManualClock().now, limit=0)
