"""A render that fails on the server is explained on the card, in the member's language, with
what the member can do about it."""

from __future__ import annotations

import pytest

from bot.jobs import JobState
from tests.e2e._video_helpers import card_of, job_id_of, send_video, text_of, wait_state
from tests.e2e.conftest import World

pytestmark = pytest.mark.timeout(60)


async def test_a_broken_model_file_says_retrying_will_not_help_in_chinese(world: World) -> None:
    world.comfy.fail_next(1, "model_load")
    card = await card_of(await send_video(world, locale="zh-CN"))
    job = await wait_state(world, job_id_of(card), JobState.FAILED)
    assert job.error_code == "model_file"
    assert "damaged or incomplete" in (job.error_text or "")  # the operator's sentence, for the log
    await world.discord.wait_until(lambda: "模型文件" in text_of(card), what="the failure on the card")
    assert "重试也没有用" in text_of(card) and "请告诉管理员" in text_of(card)
    assert "safetensors" not in text_of(card)  # members are not told file names


async def test_the_scaled_t5_is_a_broken_model_too_in_english(world: World) -> None:
    world.comfy.fail_next(1, "t5_scaled")
    card = await card_of(await send_video(world, locale="en-US"))
    job = await wait_state(world, job_id_of(card), JobState.FAILED)
    assert job.error_code == "model_file"
    assert 'non-"scaled" umt5-xxl-enc-bf16.safetensors' in (job.error_text or "")
    await world.discord.wait_until(lambda: "model files" in text_of(card), what="the failure on the card")
    assert "Retrying will not help: tell a moderator." in text_of(card)


async def test_out_of_memory_tells_an_english_member_what_to_change(world: World) -> None:
    world.comfy.fail_next(1, "oom")
    card = await card_of(await send_video(world, locale="en-GB"))
    job = await wait_state(world, job_id_of(card), JobState.FAILED)
    assert job.error_code == "out_of_memory"
    assert (job.error_text or "").startswith(
        f"out of GPU memory on {world.comfy.url}: choose a smaller size or a shorter duration (")
    await world.discord.wait_until(lambda: "out of GPU memory" in text_of(card), what="the failure on the card")
    assert "choose a smaller size or a shorter duration" in text_of(card)
