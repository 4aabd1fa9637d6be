"""A mixed cluster as members and moderators see it: a GPU too small for the 14B workflow still
renders the 1.3B videos, a 14B video that no server can run waits (its card says why), and
`/queue` and `/wanbot backends` show which workflows each server runs."""

from __future__ import annotations

from pathlib import Path

from bot.jobs import JobState
from tests.e2e._queue_helpers import answer_of
from tests.e2e._video_helpers import card_of, job_id_of, send_video, text_of, video_world, wait_state

SMALL, BIG = "wan-wrapper", "wan-wrapper-14b"
ZH = "zh-CN"


async def test_a_14b_video_no_server_can_run_waits_and_says_why(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"vram_gb": 12}, workflow=f"{SMALL},{BIG}") as world:
        big_card = await card_of(await send_video(world, {"workflow": BIG}, who="alice"))
        big_id = job_id_of(big_card)
        assert ("No server can run the wan-wrapper-14b workflow right now: your video keeps its place"
                in text_of(big_card))
        small_card = await card_of(await send_video(world, {"workflow": SMALL}, who="carol", locale=ZH))
        await wait_state(world, job_id_of(small_card), JobState.DELIVERED, timeout=15)  # not blocked
        assert (await world.services.db.jobs.get(big_id)).state is JobState.QUEUED  # type: ignore[union-attr]

        queue = text_of(await answer_of(await world.discord.slash(
            "queue", user=world.discord.world.user_named("alice"), locale="en-US")))
        assert f"runs only `{SMALL}`" in queue
        assert "no server can run its workflow now" in queue

        backends = await answer_of(await world.discord.slash(
            "wanbot backends", {}, user=world.discord.world.user_named("bob"), locale=ZH))
        (field,) = backends.embeds[0]["fields"]
        lines = field["value"].splitlines()
        assert lines[0] == "🟢 在线"
        assert f"✅ 可运行：`{SMALL}`" in lines
        assert any(line.startswith(f"⛔ 无法运行 `{BIG}`：needs 24 GB of VRAM; this GPU (") for line in lines)
