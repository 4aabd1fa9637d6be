"""The video feature: `/video`, the live status card, delivery of the MP4, and their buttons.

Modules: `cog` (the command, button and Remix flows), `_options` (the command's options),
`_picture` (a member's start picture, from Discord to a kept file), `_status` (status cards
kept up to date: the dispatcher's observer), `_preview` (the live preview image a card shows),
`_budget` (the edits all cards share: uploads, channel limits), `_delivery` (posting the video:
the dispatcher's deliver callback), `_card` (what cards and results say), `_buttons`
(persistent buttons), `_remix` (the Remix form), `_messages` (every sentence in English and
Chinese).

`remix_buttons(jobs, locale)` is what other features may use: the Remix buttons `/history`
puts under a member's list of videos (answered by this feature, like every job button).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.video._buttons import remix_buttons

if TYPE_CHECKING:
    from bot.app import WanBot

__all__ = ["remix_buttons", "setup"]


async def setup(bot: WanBot) -> None:
    """Add the cog, register the buttons, and start the services with this feature's delivery
    and status cards: the dispatcher has both from its first step, before it re-attaches any
    job left by a previous process. Runs from `setup_hook`, before the gateway connects.
    """
    from cogs.video._buttons import JobButton
    from cogs.video._delivery import VideoDelivery
    from cogs.video._status import StatusCards
    from cogs.video.cog import VideoCog

    cards = StatusCards(bot)
    delivery = VideoDelivery(bot, cards)
    bot.add_dynamic_items(JobButton)
    await bot.add_cog(VideoCog(bot, cards))
    await bot.services.start(delivery, cards)
