"""Many cards rendering at once, against the fake Discord with Discord's rate limits on: every
card keeps its 2-second throttle, preview uploads stay within the shared budget, bot-token
edits within the channel's limit, and Discord never answers 429; image-to-video cards too,
which also carry their start picture."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from cogs.video._budget import CHANNEL_EDITS_PER_SECOND
from cogs.video._status import EDIT_INTERVAL
from tests.e2e._crowd import crowd_world, most_in_a_window
from tests.fakes.discord import CommandAttachment, FakeChannel, StoredMessage

UPLOADS_PER_SECOND = 5.0


def _throttled(card: StoredMessage) -> bool:
    """Every edit but the final one came at least EDIT_INTERVAL after the one before."""
    times = [edit.at for edit in card.edits]
    return all(later - earlier >= EDIT_INTERVAL for earlier, later in zip(times[:-2], times[1:-1], strict=True))


async def test_fifty_cards_keep_the_throttle_and_the_upload_budget(tmp_path: Path) -> None:
    comfy = {"steps": 12, "step_seconds": 0.5}
    async with crowd_world(tmp_path, backends=50, members=50, channels=10, comfy=comfy,
                           preview_uploads_per_second=UPLOADS_PER_SECOND) as crowd:
        cards = await crowd.render_all(50)
        limited = crowd.world.discord.rate_limited
    assert limited == []
    assert all(_throttled(card) for card in cards)
    uploads = [edit.at for card in cards for edit in card.edits if edit.uploads]
    # Without the budget: up to 50 cards every 2 s, 125 uploads in 5 s. The bucket allows its
    # burst plus 5 a second; a little slack for the way from the bucket to the fake.
    assert most_in_a_window(uploads, 5.0) <= UPLOADS_PER_SECOND * 6 + 3
    assert sum(any(edit.uploads for edit in card.edits) for card in cards) >= 25  # previews did go out
    assert all(card.attachments == [] for card in cards)


async def test_bot_token_edits_share_the_channels_limit_without_a_429(tmp_path: Path) -> None:
    """Interaction tokens that die after a second: every later card edit goes through the bot
    token, where all cards of a channel share one limit (Discord: 5 per 5 s)."""
    comfy = {"steps": 12, "step_seconds": 0.4}
    async with crowd_world(tmp_path, backends=12, members=12, channels=3, comfy=comfy, token_lifetime=1.0) as crowd:
        cards = await crowd.render_all(12)
        limited = crowd.world.discord.rate_limited
    assert limited == []
    _within_the_channels_limit(crowd.channels, cards)
    assert all(_throttled(card) for card in cards)
    assert all(card.attachments == [] for card in cards)


async def test_cards_with_a_start_picture_stay_within_the_limits_and_show_no_loose_file(tmp_path: Path) -> None:
    """Image-to-video cards upload their start picture with their first edit (no upload token:
    once a card, and small) and keep it by id, beside each preview: the same limits hold, each
    picture goes up once, and no card shows a loose file at any edit."""
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (140, 60, 200)).save(picture, "PNG")
    comfy = {"steps": 12, "step_seconds": 0.4}
    async with crowd_world(tmp_path, backends=12, members=12, channels=3, comfy=comfy, token_lifetime=1.0,
                           workflow="wan-wrapper,wan-wrapper-i2v") as crowd:
        cards = await crowd.render_all(12, image=CommandAttachment("p.png", picture.getvalue()))
        limited = crowd.world.discord.rate_limited
    assert limited == []
    _within_the_channels_limit(crowd.channels, cards)
    assert all(_throttled(card) for card in cards)
    assert sum(any("preview.jpg" in edit.files for edit in card.edits) for card in cards) >= 6  # previews did go out
    for card in cards:
        assert [a.filename for a in card.attachments] == ["start.jpg"]
        assert [edit.files.count("start.jpg") for edit in card.edits if "start.jpg" in edit.files] == [1]
        assert [edit.loose for edit in card.edits if edit.loose] == []


def _within_the_channels_limit(channels: list[FakeChannel], cards: list[StoredMessage]) -> None:
    for channel in channels:
        bot_edits = [edit.at for card in cards if card.channel_id == channel.id
                     for edit in card.edits if edit.via == "channel"]
        assert bot_edits  # the cards did go on through the bot token
        assert most_in_a_window(bot_edits, 5.0) <= 5
        assert most_in_a_window(bot_edits, 10.0) <= 10 * CHANNEL_EDITS_PER_SECOND + 1
