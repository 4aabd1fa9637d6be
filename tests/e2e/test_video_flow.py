"""`/video` from the member's side: deferred in time, a card, progress, then the MP4 reply."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from bot.comfy.watch import Progress
from bot.jobs import JobState
from tests.e2e._video_helpers import (
    card_of,
    cards_of,
    delivered,
    job_id_of,
    playable,
    results_of,
    send_video,
    shows_done,
    text_of,
    video_world,
    wait_state,
)

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("locale", "prompt", "ready", "waiting"),
    [
        ("en-US", "a red fox running through fresh snow", "your video #{job} is ready", ("Queued", "Sent to a GPU", "Rendering")),
        ("zh-CN", "一只红狐狸在新雪中奔跑", "你的视频 #{job} 好了", ("排队中", "已发送到 GPU", "生成中")),
    ],
)
async def test_video_is_deferred_then_carded_then_delivered(
    tmp_path: Path, locale: str, prompt: str, ready: str, waiting: tuple[str, ...]
) -> None:
    async with video_world(tmp_path, comfy={"steps": 4, "step_seconds": 0.25}, card_interval=0.2) as world:
        alice = world.discord.world.user_named("alice")
        handle = await send_video(world, {"size": "portrait", "duration": 1, "steps": 12}, prompt=prompt,
                                  locale=locale)

        ack = await handle.acked()
        assert ack.type == 5 and ack.latency_ms < 3000  # deferred, publicly, well inside 3 s
        assert not ack.body.get("data", {}).get("flags", 0) & 64
        card = await card_of(handle)
        job_id = job_id_of(card)
        first = text_of(card)
        assert prompt in first and "480×832" in first
        assert any(word in first for word in waiting)  # wherever it is by now, not finished yet

        result = await delivered(world, job_id)
        job = await wait_state(world, job_id, JobState.DELIVERED)
        assert job.locale == locale
        assert job.result_message_id == result.id and job.status_message_id == card.id
        assert job.params["frames"] == 17 and job.params["fps"] == 16 and job.params["width"] == 480

        # The reply: to the card, pinging the requester only, with the prompt, seed and timings.
        assert result.message_reference and int(result.message_reference["message_id"]) == card.id
        assert result.pings.users == {alice.id} and not result.pings.roles and not result.pings.everyone
        assert ready.format(job=job_id) in result.content
        assert prompt in text_of(result) and str(job.params["seed"]) in text_of(result)
        assert result.via == "channel"  # the bot token, not the interaction webhook
        assert {cid.split(":")[1] for cid in result.custom_ids()} == {"reroll", "remix", "again", "delete"}
        (attachment,) = result.attachments
        assert playable(attachment.data)[:2] == (64, 64)  # the emulator's clip, byte for byte
        assert attachment.data == world.comfy.video_bytes or len(attachment.data) > 1000

        # The card went through progress to done, each edit a real change.
        await world.discord.wait_until(lambda: shows_done(card), what="the card's final edit")
        history = [e.changes for e in card.edits]
        assert any("▰" in str(change) for change in history), "no progress bar was ever shown"
        assert card.custom_ids() == []  # no Cancel once done
        assert str(result.id) in text_of(card)  # links to the video
        assert world.discord.errors == []
        assert len(results_of(world, job_id)) == 1


async def test_card_edits_are_throttled_to_one_per_two_seconds(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"steps": 12, "step_seconds": 0.25}) as world:
        handle = await send_video(world)
        card = await card_of(handle)
        await delivered(world, job_id_of(card))
        await world.discord.wait_until(lambda: shows_done(card), what="the final edit")
        times = [edit.at for edit in card.edits]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times[:-1])]
        assert len(times) >= 3
        assert all(gap >= 1.9 for gap in gaps), gaps  # final states skip the wait: last gap excluded


async def test_queued_cards_show_their_place_and_move_up(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"paused": True}, card_interval=0.1) as world:
        cards = [await card_of(await send_video(world, prompt=f"clip {n}")) for n in range(4)]
        await wait_state(world, job_id_of(cards[1]), JobState.SUBMITTED, JobState.RUNNING)  # GPU + prefetch
        await world.discord.wait_until(lambda: "Queued: you are next." in text_of(cards[2]), what="next")
        await world.discord.wait_until(lambda: "Queued: 1 ahead of you." in text_of(cards[3]), what="1 ahead")
        assert "<t:" in text_of(cards[3])  # the ETA, as a Discord timestamp every reader sees in their time

        alice = world.discord.world.user_named("alice")
        await world.discord.click(cards[2].id, f"wanbot:cancel:{job_id_of(cards[2])}", user=alice)
        await world.discord.wait_until(lambda: "Queued: you are next." in text_of(cards[3]), what="moving up")


async def test_closing_the_cards_as_an_update_lands_does_not_wait_out_the_throttle(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"paused": True}, card_interval=60.0) as world:
        job_id = job_id_of(await card_of(await send_video(world)))
        job = await wait_state(world, job_id, JobState.SUBMITTED)
        cards = cards_of(world)
        await cards.on_progress(job, Progress(job.prompt_id or "", state="queued", position=3))
        for _ in range(5):  # the card's task parks in its 60 s throttle wait
            await asyncio.sleep(0)
        await cards.on_progress(job, Progress(job.prompt_id or "", state="queued", position=2))
        # Same loop iteration as the update: the cancel must end the wait, not be swallowed by it.
        closing = asyncio.ensure_future(cards.close())
        done, _ = await asyncio.wait({closing}, timeout=10)  # generous: the throttle would wait 60 s
        assert closing in done
