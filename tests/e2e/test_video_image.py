"""`/video` with a picture, through the unmodified discord.py client: the picture is checked,
fitted and kept, uploaded to ComfyUI with the job, shown on the card and the result, and the
delivered clip starts from it; a wrong picture is refused privately in the member's language
with nothing queued; Reroll starts from the same picture, or says it is no longer kept; a job
in flight across a restart still gets its picture."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs import JobState
from bot.jobs.start_images import START_IMAGE_PARAM
from bot.workflows.start_image import MAX_IMAGE_BYTES
from tests.e2e._video_helpers import (
    card_of,
    delivered,
    job_id_of,
    refusal_of,
    restarted,
    results_of,
    send_video,
    shows_done,
    video_world,
    wait_state,
)
from tests.e2e.conftest import World
from tests.fakes.discord import CommandAttachment, StoredMessage
from tests.fakes.media import first_frame_colour

pytestmark = pytest.mark.timeout(90)

I2V = {"workflow": "wan-wrapper,wan-wrapper-i2v"}
VIOLET = (140, 60, 200)


def encoded(fmt: str = "PNG", size: tuple[int, int] = (800, 600), colour: tuple[int, int, int] = VIOLET,
            **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **options)
    return out.getvalue()


def animated_png() -> bytes:
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0))]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def near(colour: tuple[int, int, int], expected: tuple[int, int, int] = VIOLET) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(colour, expected))


async def clip_colour(world: World, message: StoredMessage, tmp: Path) -> tuple[int, int, int]:
    (video,) = [a for a in message.attachments if a.filename.endswith(".mp4")]
    path = tmp / f"{message.id}.mp4"
    path.write_bytes(video.data)
    return await asyncio.to_thread(first_frame_colour, path)


def thumbnail_of(message: StoredMessage) -> str | None:
    return ((message.embeds[0].get("thumbnail") or {}).get("url")) if message.embeds else None


def cdn_downloads(world: World) -> int:
    return sum(1 for r in world.discord.requests if r.path.startswith("/ephemeral-attachments/"))


@pytest.mark.parametrize(("locale", "ready"), [("en-US", "your video #{job} is ready"),
                                               ("zh-CN", "你的视频 #{job} 好了")])
async def test_a_picture_starts_the_clip_and_shows_on_the_card_and_the_result(tmp_path: Path, locale: str,
                                                                               ready: str) -> None:
    async with video_world(tmp_path, card_interval=0.1, **I2V) as world:
        picture = CommandAttachment("holiday.jpg", encoded("JPEG", quality=95))
        handle = await send_video(world, {"image": picture, "size": "portrait", "duration": 1},
                                  prompt="the violet sky starts to swirl", locale=locale)
        card = await card_of(handle)
        job_id = job_id_of(card)
        result = await delivered(world, job_id)
        job = await wait_state(world, job_id, JobState.DELIVERED)

        # The job ran the image-to-video template, from the picture kept with it.
        assert job.template == "wan-wrapper-i2v"
        ref = job.params[START_IMAGE_PARAM]
        kept = world.services.images.path(ref)
        with Image.open(kept) as fitted:
            assert fitted.size == (480, 832)  # fitted to the portrait frame the member chose
        (upload,) = world.comfy.input_files
        assert upload == f"wanbot/job-{job_id}-{kept.stem[:16]}.png"
        (accepted,) = world.comfy.accepted
        assert accepted.prompt["4"]["inputs"]["image"] == upload

        # The clip starts from the picture.
        assert near(await clip_colour(world, result, tmp_path))
        assert ready.format(job=job_id) in result.content

        # The result shows the picture as its thumbnail, attached beside the video.
        names = sorted(a.filename for a in result.attachments)
        assert names == ["start.jpg", f"wanbot-{job_id}.mp4"]
        (thumb,) = [a for a in result.attachments if a.filename == "start.jpg"]
        assert thumbnail_of(result) == thumb.url and len(thumb.data) < 20_000
        with Image.open(io.BytesIO(thumb.data)) as small:
            assert max(small.size) <= 160 and near(small.getpixel((small.width // 2, small.height // 2)))

        # The card too: uploaded once, then kept by id.
        await world.discord.wait_until(lambda: shows_done(card), what="the final card")
        (card_thumb,) = card.attachments
        assert card_thumb.filename == "start.jpg" and thumbnail_of(card) == card_thumb.url
        uploads = [e for e in card.edits if "start.jpg" in e.files]
        assert len(uploads) == 1 and len(card.edits) > 1
        assert world.discord.errors == []
        assert len(results_of(world, job_id)) == 1


async def test_the_picture_and_the_live_preview_share_the_card_and_no_file_is_left_loose(tmp_path: Path) -> None:
    """Discord shows a file inside an embed only while the embed names it attachment://: the
    card keeps the start picture and the preview as one list, both named so, and members see
    no loose file on the card, while the preview shows or after it left, nor on the result."""
    async with video_world(tmp_path, comfy={"steps": 6, "step_seconds": 0.15}, card_interval=0.2, **I2V) as world:
        card = await card_of(await send_video(world, {"image": CommandAttachment("p.png", encoded())}))
        job_id = job_id_of(card)
        await world.discord.wait_until(lambda: len(card.attachments) == 2, timeout=10,
                                       what="the preview beside the picture")
        start, preview = card.attachments
        assert (start.filename, preview.filename) == ("start.jpg", "preview.jpg")
        assert thumbnail_of(card) == start.url and card.embeds[0]["image"]["url"] == preview.url
        result = await delivered(world, job_id)
        await world.discord.wait_until(lambda: shows_done(card), what="the final card")
        assert world.discord.errors == []
    (kept,) = card.attachments
    assert kept.id == start.id and thumbnail_of(card) == kept.url and "image" not in card.embeds[0]
    assert [e.loose for e in card.edits if e.loose] == [] and card.loose_attachments == []
    assert len([e for e in card.edits if "start.jpg" in e.files]) == 1  # uploaded once, then kept by id
    assert [a.filename for a in result.loose_attachments] == [f"wanbot-{job_id}.mp4"]
    assert thumbnail_of(result) == next(a.url for a in result.attachments if a.filename == "start.jpg")


async def test_the_content_decides_not_the_name(tmp_path: Path) -> None:
    """A PNG called cat.gif (Discord declares it a GIF) is fine; a GIF called cat.png is not."""
    async with video_world(tmp_path, **I2V) as world:
        card = await card_of(await send_video(world, {"image": CommandAttachment("cat.gif", encoded("PNG"))}))
        await wait_state(world, job_id_of(card), JobState.DELIVERED)
        answer = await refusal_of(await send_video(world, {"image": CommandAttachment("cat.png", encoded("GIF"))}))
        assert answer == "The picture is a GIF file; send a PNG, JPEG or WebP image instead."


REFUSALS = {
    "en-US": [
        (CommandAttachment("notes.png", b"just some text"),
         "The file is not a picture I can read. Send a PNG, JPEG or WebP image."),
        (CommandAttachment("anim.png", animated_png()),
         "The picture is animated (2 frames); send a still picture: the video starts from one frame."),
        (CommandAttachment("wide.png", encoded(size=(5000, 300))),
         "The picture is 5000×300 pixels; at most 4096 on a side. Scale it down and send it again."),
        (CommandAttachment("cut.png", encoded(size=(300, 300))[:200]),
         "The picture could not be decoded (the file is damaged or cut short). Send it again."),
    ],
    "zh-CN": [
        (CommandAttachment("notes.png", b"just some text"), "这个文件不是我能读取的图片。请发送 PNG、JPEG 或 WebP 图片。"),
        (CommandAttachment("anim.png", animated_png()), "图片是动图（2 帧）；请发送静态图片：视频从一帧画面开始。"),
        (CommandAttachment("wide.png", encoded(size=(5000, 300))), "图片为 5000×300 像素；每边最多 4096 像素。请缩小后重新发送。"),
        (CommandAttachment("cut.png", encoded(size=(300, 300))[:200]), "图片无法解码（文件损坏或不完整）。请重新发送。"),
    ],
}


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
async def test_a_wrong_picture_is_refused_privately_and_nothing_is_queued(tmp_path: Path, locale: str) -> None:
    async with video_world(tmp_path, **I2V) as world:
        for picture, expected in REFUSALS[locale]:
            answer = await refusal_of(await send_video(world, {"image": picture}, locale=locale))
            assert answer == expected, picture.filename
        assert await world.services.db.jobs.count_queued() == 0
        assert world.services.metrics.registry.get_sample_value("wanbot_refusals_total",
                                                                {"reason": "invalid"}) == len(REFUSALS[locale])
        assert world.comfy.requests_to("/upload/image") == [] and world.comfy.accepted == []
        assert not world.services.images.folder.exists()  # nothing kept


@pytest.mark.parametrize(("locale", "expected"), [
    ("en-US", "The picture is 10.0 MB; the limit is 10.0 MB. Send a smaller file (a JPEG, or a smaller size)."),
    ("zh-CN", "图片有 10.0 MB，上限是 10.0 MB。请发送更小的文件（例如 JPEG，或缩小尺寸）。"),
])
async def test_an_oversized_picture_is_refused_by_its_declared_size_without_downloading_it(
        tmp_path: Path, locale: str, expected: str) -> None:
    async with video_world(tmp_path, **I2V) as world:
        big = CommandAttachment("huge.png", encoded() + b"\0" * MAX_IMAGE_BYTES)
        handle = await send_video(world, {"image": big}, locale=locale)
        assert await refusal_of(handle) == expected
        assert cdn_downloads(world) == 0
        assert (await handle.acked()).type == 4  # answered at once: not even deferred


@pytest.mark.parametrize(("locale", "expected"), [
    ("en-US", "This server offers no image-to-video (none of its workflows starts from a picture): send the "
              "request again without a picture."),
    ("zh-CN", "本服务器不提供图生视频（它的工作流都不能从图片开始）：请不带图片重新发送。"),
])
async def test_a_server_without_image_to_video_says_so(tmp_path: Path, locale: str, expected: str) -> None:
    async with video_world(tmp_path) as world:  # wan-wrapper only
        answer = await refusal_of(await send_video(world, {"image": CommandAttachment("p.png", encoded())},
                                                   locale=locale))
        assert answer == expected
        assert cdn_downloads(world) == 0 and await world.services.db.jobs.count_queued() == 0


async def test_blocked_words_still_apply_to_a_picture_request(tmp_path: Path) -> None:
    async with video_world(tmp_path, **I2V) as world:
        await world.services.admin.set_blocked_words(world.discord.world.guild.id, 1, ["坏词"])
        answer = await refusal_of(await send_video(world, {"image": CommandAttachment("p.png", encoded())},
                                                   prompt="让坏词动起来", locale="zh-CN"))
        assert answer == "你的提示词包含本服务器不允许的词：“坏词”。请修改后再试。"
        assert await world.services.db.jobs.count_queued() == 0 and world.comfy.accepted == []


async def test_reroll_starts_from_the_same_picture_until_it_is_no_longer_kept(tmp_path: Path) -> None:
    async with video_world(tmp_path, **I2V) as world:
        alice = world.discord.world.user_named("alice")
        card = await card_of(await send_video(world, {"image": CommandAttachment("p.webp", encoded("WEBP"))}))
        first = job_id_of(card)
        result = await delivered(world, first)
        source = await wait_state(world, first, JobState.DELIVERED)

        rerolled = await card_of(await world.discord.click(result.id, f"wanbot:reroll:{first}", user=alice))
        again = await wait_state(world, job_id_of(rerolled), JobState.DELIVERED)
        assert again.params[START_IMAGE_PARAM] == source.params[START_IMAGE_PARAM]
        assert again.template == "wan-wrapper-i2v" and again.params["seed"] != source.params["seed"]
        assert near(await clip_colour(world, await delivered(world, again.id), tmp_path))

        world.services.images.path(source.params[START_IMAGE_PARAM]).unlink()  # past its keep time
        for locale, expected in (
            ("en-US", "The start picture of that video is no longer kept (pictures are kept 7 days after their "
                      "last use). Send /video with the picture again."),
            ("zh-CN", "那个视频的起始图片已不再保存（图片在最后一次使用后保存 7 天）。请带上图片重新发送 /video。"),
        ):
            click = await world.discord.click(result.id, f"wanbot:again:{first}", user=alice, locale=locale)
            assert await refusal_of(click) == expected
        assert await world.services.db.jobs.count_queued() == 0


async def test_an_image_job_left_rendering_is_finished_by_the_next_bot(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"steps": 8, "step_seconds": 0.15}, **I2V) as world:
        card = await card_of(await send_video(world, {"image": CommandAttachment("p.png", encoded())}))
        job_id = job_id_of(card)
        await wait_state(world, job_id, JobState.RUNNING)
        async with restarted(world):  # ComfyUI keeps rendering while no bot follows
            result = await delivered(world, job_id, timeout=30)
            await world.discord.wait_until(lambda: shows_done(card), what="the new bot's card edit")
            job = await wait_state(world, job_id, JobState.DELIVERED)
            assert world.services.images.path(job.params[START_IMAGE_PARAM]).is_file()
        assert len(results_of(world, job_id)) == 1
        assert len(world.comfy.accepted) == 1 and len(world.comfy.requests_to("/upload/image")) == 1
        assert near(await clip_colour(world, result, tmp_path))
        # The new bot, which never saw the card, put the picture on it again.
        (card_thumb,) = card.attachments
        assert card_thumb.filename == "start.jpg" and thumbnail_of(card) == card_thumb.url


async def test_remix_starts_from_the_same_picture(tmp_path: Path) -> None:
    async with video_world(tmp_path, **I2V) as world:
        bob = world.discord.world.user_named("bob")
        card = await card_of(await send_video(world, {"image": CommandAttachment("p.png", encoded())}))
        first = job_id_of(card)
        result = await delivered(world, first)
        source = await wait_state(world, first, JobState.DELIVERED)

        form = await world.discord.click(result.id, f"wanbot:remix:{first}", user=bob)
        assert (await form.acked()).type == 9  # the form
        remixed = await card_of(await world.discord.submit_modal(form, {"wanbot:remix:prompt": "it starts to rain"}))
        again = await wait_state(world, job_id_of(remixed), JobState.DELIVERED)
        assert again.user_id == bob.id and again.template == "wan-wrapper-i2v"
        assert again.params[START_IMAGE_PARAM] == source.params[START_IMAGE_PARAM]
        assert again.params["prompt"] == "it starts to rain"
        assert near(await clip_colour(world, await delivered(world, again.id), tmp_path))
