"""The real bot starts on the fakes: connects, starts its services, checks its backend."""

from __future__ import annotations

from tests.e2e.conftest import World


async def test_bot_connects_and_checks_its_backend(world: World) -> None:
    assert world.bot.is_ready()
    (slot,) = world.services.dispatcher.slots
    assert slot.up and slot.usable and slot.checked
    assert world.discord.errors == []
