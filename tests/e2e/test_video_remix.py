"""Remix: the button on a posted video (and on `/history`) opens a form pre-filled with the
prompt and the negative prompt; its submit queues the same template, size, duration and
settings with the edited text, for whoever submitted it, under their own limits. Bad input is
answered privately in the member's language and queues nothing; the button and the form keep
working across a restart."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.jobs import JobRecord, JobRequest, JobState, Requester
from bot.workflows import SEED_MAX, WAN_NEGATIVE_PROMPT
from cogs.video._remix import TEXT_MAX, RemixForm
from tests.e2e._video_helpers import (
    EPHEMERAL,
    card_of,
    delivered,
    job_id_of,
    playable,
    refusal_of,
    restarted,
    send_video,
    text_of,
    wait_state,
)
from tests.e2e.conftest import World
from tests.fakes.discord import InteractionHandle, ShownModal, StoredMessage
from tests.fakes.discord.modals import check_modal

pytestmark = pytest.mark.timeout(60)

PROMPT, NEGATIVE, SEED = "wanbot:remix:prompt", "wanbot:remix:negative", "wanbot:remix:seed"
SOURCE = {"seed": 42, "size": "square", "duration": 2, "steps": 20, "cfg": 7.5, "negative": "blurry, text"}


async def _result(world: World, options: dict[str, Any] | None = None, *, prompt: str = "a koi pond",
                  who: str = "alice") -> tuple[StoredMessage, JobRecord]:
    """A delivered /video: its posted result and its job."""
    card = await card_of(await send_video(world, options, prompt=prompt, who=who))
    job_id = job_id_of(card)
    result = await delivered(world, job_id)
    return result, await wait_state(world, job_id, JobState.DELIVERED)


async def _open(world: World, message: StoredMessage, job_id: int, who: str = "alice",
                locale: str = "en-US") -> InteractionHandle:
    """Click Remix; the bot answers with the form (callback type 9)."""
    handle = await world.discord.click(message.id, f"wanbot:remix:{job_id}", user=world.discord.world.user_named(who),
                                       locale=locale)
    assert (await handle.acked()).type == 9, "the Remix button must answer with a form"
    return handle


async def _remixed(world: World, form: InteractionHandle, values: dict[str, str]) -> JobRecord:
    """Submit the form; the new job, once delivered, and its posted result checked playable."""
    submitted = await world.discord.submit_modal(form, values)
    card = await card_of(submitted)
    job = await wait_state(world, job_id_of(card), JobState.DELIVERED, timeout=20)
    (attachment,) = (await delivered(world, job.id)).attachments
    assert playable(attachment.data)
    return job


async def _jobs_of(world: World, who: str) -> list[JobRecord]:
    fake = world.discord.world
    return list(await world.services.reads.history(fake.guild.id, fake.user_named(who).id, 10))


def _reached_comfy(world: World, text: str) -> bool:
    return any(text in json.dumps(item.prompt, ensure_ascii=False) for item in world.comfy.accepted)


async def test_remix_queues_the_same_settings_with_the_edited_prompt_and_delivers_it(world: World) -> None:
    result, source = await _result(world, SOURCE)
    assert f"wanbot:remix:{source.id}" in result.custom_ids()

    form = await _open(world, result, source.id)
    shown = form.shown_modal
    assert shown is not None and shown.title == f"Remix video #{source.id}"
    assert shown.values() == {PROMPT: "a koi pond", NEGATIVE: "blurry, text", SEED: ""}
    assert [field.label for field in shown.inputs.values()] == ["Prompt", "Negative prompt", "Seed (optional)"]
    assert shown.inputs[SEED].placeholder == "Empty: a new random seed (this video had 42)"
    assert shown.inputs[PROMPT].required and not shown.inputs[SEED].required

    job = await _remixed(world, form, {PROMPT: "a koi pond at night, lanterns"})
    assert job.params["prompt"] == "a koi pond at night, lanterns"
    assert job.params["negative_prompt"] == "blurry, text" and job.params["seed"] != 42
    for name in ("width", "height", "frames", "fps", "steps", "cfg", "shift"):
        assert job.params[name] == source.params[name], name
    assert (job.params["width"], job.params["frames"], job.template) == (624, 33, source.template)
    assert _reached_comfy(world, "a koi pond at night, lanterns")


async def test_remix_with_a_seed_and_without_a_negative_prompt(world: World) -> None:
    result, source = await _result(world, SOURCE, prompt="一只猫在冲浪")
    form = await _open(world, result, source.id, locale="zh-CN")
    shown = form.shown_modal
    assert shown is not None and shown.title == f"修改视频 #{source.id} 的提示词"
    assert [field.label for field in shown.inputs.values()] == ["提示词", "反向提示词", "种子（可选）"]
    assert shown.inputs[SEED].placeholder == "留空：使用新的随机种子（原视频为 42）"

    job = await _remixed(world, form, {PROMPT: "一只狗在冲浪", NEGATIVE: "", SEED: " 7 "})
    assert (job.params["prompt"], job.params["seed"], job.locale) == ("一只狗在冲浪", 7, "zh-CN")
    assert job.params["negative_prompt"] == WAN_NEGATIVE_PROMPT  # empty: the workflow's standard list


async def test_another_member_remixes_a_public_result_under_their_own_limits(world: World) -> None:
    fake = world.discord.world
    carol = fake.user_named("carol")
    await world.services.admin.set_limits(fake.guild.id, carol.id, {"burst": 1, "videos_per_hour": 1})
    result, source = await _result(world, SOURCE)

    job = await _remixed(world, await _open(world, result, source.id, who="carol"), {PROMPT: "a koi pond in autumn"})
    assert job.user_id == carol.id and job.params["width"] == 624
    assert (await delivered(world, job.id)).pings.users == {carol.id}  # her video: she is the one pinged

    # Her one video for the hour is spent: the next remix is refused, privately, and queues nothing.
    form = await _open(world, result, source.id, who="carol", locale="zh-CN")
    answer = await refusal_of(await world.discord.submit_modal(form, {PROMPT: "a koi pond in winter"}))
    assert "你暂时用完了生成次数" in answer
    assert [j.id for j in await _jobs_of(world, "carol")] == [job.id]


@pytest.mark.parametrize(
    ("locale", "values", "expected"),
    [
        ("en-US", {PROMPT: "  \n "}, "The prompt is empty — describe the video you want"),
        ("zh-CN", {PROMPT: "  \n "}, "提示词是空的——请描述你想要的视频"),
        ("en-US", {PROMPT: "x" * 2001}, "prompt is 2001 characters long; the limit is 2000 — shorten it"),
        ("en-US", {SEED: "abc"}, 'seed must be a number; you gave "abc"'),
        ("zh-CN", {SEED: "abc"}, '种子必须是数字；你给的是 "abc"'),
        ("en-US", {SEED: "-1"}, "seed must be between 0 and 9007199254740991; you gave -1 — try 0"),
        ("zh-CN", {SEED: "99999999999999999"}, "种子必须在 0 到 9007199254740991 之间；你给的是 99999999999999999"),
        ("en-US", {PROMPT: "a cat says badword"}, "Your prompt contains a word this server does not allow: “badword”."),
        ("zh-CN", {NEGATIVE: "模糊，坏词"}, "你的提示词包含本服务器不允许的词：“坏词”。请修改后再试。"),
    ],
    ids=["empty-en", "empty-zh", "too-long", "seed-text-en", "seed-text-zh", "seed-negative", "seed-too-big",
         "blocked-en", "blocked-negative-zh"],
)
async def test_bad_input_is_refused_in_the_members_language_and_nothing_is_queued(
    world: World, locale: str, values: dict[str, str], expected: str
) -> None:
    await world.services.admin.set_blocked_words(world.discord.world.guild.id, 1, ["badword", "坏词"])
    result, source = await _result(world)
    form = await _open(world, result, source.id, locale=locale)

    answer = await refusal_of(await world.discord.submit_modal(form, values))
    assert expected in answer
    assert [job.id for job in await _jobs_of(world, "alice")] == [source.id]
    public = world.discord.channel_messages(result.channel_id, include_ephemeral=False)
    assert [m.id for m in public] == [source.status_message_id, result.id]  # no placeholder left behind


async def test_remix_button_and_an_open_form_work_after_a_restart(world: World) -> None:
    result, source = await _result(world, SOURCE)
    opened_before = await _open(world, result, source.id)

    async with restarted(world):
        job = await _remixed(world, opened_before, {PROMPT: "a koi pond, opened before the restart"})
        assert job.params["prompt"] == "a koi pond, opened before the restart" and job.params["width"] == 624
        job = await _remixed(world, await _open(world, result, source.id), {PROMPT: "a koi pond, after the restart"})
        assert job.params["prompt"] == "a koi pond, after the restart" and job.params["frames"] == 33


async def _history(world: World, who: str = "alice", locale: str = "en-US") -> StoredMessage:
    handle = await world.discord.slash("history", user=world.discord.world.user_named(who), locale=locale)
    await handle.acked()
    answer = handle.original
    assert answer is not None and answer.flags & EPHEMERAL
    return answer


async def test_history_offers_remix_even_when_the_result_is_gone(world: World) -> None:
    result, source = await _result(world, SOURCE)
    alice = world.discord.world.user_named("alice")
    delete = await world.discord.click(result.id, f"wanbot:delete:{source.id}", user=alice)
    assert (await delete.wait_for_edit()).content == "Deleted." and result.deleted

    history = await _history(world, locale="zh-CN")
    assert history.custom_ids() == [f"wanbot:remix:{source.id}"]
    assert history.find_component(f"wanbot:remix:{source.id}")["label"] == f"修改 #{source.id}"  # type: ignore[index]
    assert "修改 #N：编辑该视频的提示词" in text_of(history)

    form = await _open(world, history, source.id, locale="zh-CN")
    assert form.shown_modal is not None and form.shown_modal.values()[PROMPT] == "a koi pond"
    job = await _remixed(world, form, {PROMPT: "a koi pond from my history"})
    assert (job.params["prompt"], job.params["width"], job.params["steps"]) == ("a koi pond from my history", 624, 20)
    assert job.user_id == alice.id


async def test_history_lists_one_remix_button_per_job(world: World) -> None:
    ids = [(await _result(world, prompt=f"clip {n}"))[1].id for n in range(3)]
    assert (await _history(world)).custom_ids() == [f"wanbot:remix:{job_id}" for job_id in reversed(ids)]


async def _stored(world: World, params: dict[str, Any]) -> JobRecord:
    """A job of alice's as another version of wanbot may have stored it: straight into the
    store, past today's checks (and never rendered: the dispatcher is not woken)."""
    fake = world.discord.world
    requester = Requester(fake.guild.id, fake.channel_named("general").id, fake.user_named("alice").id)
    return await world.services.scheduler.enqueue(requester, JobRequest(world.services.default_template.name, params))


async def test_remix_keeps_stored_params_it_does_not_edit(world: World) -> None:
    _, source = await _result(world, SOURCE)
    # A param this code does not know (say, one a newer wanbot stored) goes along as it is.
    job = await _stored(world, {**source.params, "motion_lora": "fox-run.safetensors"})
    form = await _open(world, await _history(world), job.id)
    remixed = await _remixed(world, form, {PROMPT: "a fox waking up"})
    assert remixed.params["motion_lora"] == "fox-run.safetensors" and remixed.params["prompt"] == "a fox waking up"


async def test_a_prompt_longer_than_a_form_holds_is_explained_instead(world: World) -> None:
    _, source = await _result(world)
    job = await _stored(world, {**source.params, "prompt": "a very long prompt " * 250})
    handle = await world.discord.click((await _history(world)).id, f"wanbot:remix:{job.id}",
                                       user=world.discord.world.user_named("alice"))
    ack = await handle.acked()
    assert ack.type == 4 and ack.body["data"]["flags"] & EPHEMERAL
    assert ack.body["data"]["content"] == (
        f"Video #{job.id}'s prompt is too long to edit in a form (4750 characters; Discord allows 4000). "
        "Use /video with the new text instead.")


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_the_longest_form_stays_inside_discords_limits(locale: str) -> None:
    """The largest job id and seed, the longest texts a form takes: Discord's own rules (as the
    fake checks them on the callback) hold in both languages."""
    params = {"prompt": "p" * TEXT_MAX, "negative_prompt": "n" * TEXT_MAX, "seed": SEED_MAX}
    job = JobRecord(id=10**19 - 1, guild_id=1, channel_id=2, user_id=3, locale=locale, template="wan-wrapper",
                    params=params, cost=1, priority_class=0, round=0, state=JobState.DELIVERED, attempts=1,
                    created_at=0.0, updated_at=0.0)
    form = RemixForm(job, locale)
    shown = ShownModal.of(check_modal(form.to_dict()))
    assert shown.values() == {PROMPT: "p" * TEXT_MAX, NEGATIVE: "n" * TEXT_MAX, SEED: ""}
    assert str(SEED_MAX) in (shown.inputs[SEED].placeholder or "")
