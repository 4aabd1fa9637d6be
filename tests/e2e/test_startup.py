"""The real bot starts on the fakes: connects, starts its services, checks its backend."""

from __future__ import annotations

from tests.e2e.conftest import World


async def test_bot_connects_and_checks_its_backend(world: World) -> None:
    assert world.bot.is_ready()
    (view,) = world.services.dispatcher.backend_views()
    assert view.up and view.usable
    (backend,) = world.services.backends
    assert backend.report is not None and backend.report.ok  # checked at start
    assert world.discord.errors == []
