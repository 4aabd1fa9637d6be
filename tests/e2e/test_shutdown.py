"""The bot's shutdown path: the dispatcher stops once, with the grace it was given, however
many of the bot, discord.py and the services ask to close."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import World


@pytest.fixture
def stops(world: World, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The grace of every call to the dispatcher's stop."""
    calls: list[float] = []
    real = world.services.dispatcher.stop

    async def counted(grace: float = 0.0) -> None:
        calls.append(grace)
        await real(grace)

    monkeypatch.setattr(world.services.dispatcher, "stop", counted)
    return calls


async def test_a_shutdown_stops_the_dispatcher_once_with_its_grace(world: World, stops: list[float]) -> None:
    await world.bot.shutdown(7.5)
    await world.bot.close()  # discord.py's close, and the test fixture's, come after
    await world.services.close()
    assert stops == [7.5]
    assert world.bot.is_closed() and not world.services.accepting


async def test_closing_the_bot_stops_the_dispatcher_once(world: World, stops: list[float]) -> None:
    await world.bot.close()
    await world.services.close()
    assert stops == [0.0]




async def test_one_metrics_instance_is_counted_into_and_served(world: World) -> None:
    """The dispatcher counts into the Metrics that /metrics renders (the runner hands
    `services.metrics` to the health server; test_process_lifecycle scrapes it)."""
    assert world.services.dispatcher.metrics is world.services.metrics
