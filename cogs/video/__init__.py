"""The video feature (being built)."""

from __future__ import annotations


async def setup(bot: object) -> None:
    """Adds nothing yet."""
