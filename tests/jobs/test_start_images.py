"""The kept start pictures: one file per content, named references, each use keeps a picture
longer, and the sweep's rule (past the keep time and not in use)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.jobs.start_images import START_IMAGE_PARAM, StartImageLost, StartImages, image_ref_of
from bot.workflows.start_image import FittedImage, fit_start_image
from storage.records import JobRecord, JobState


def fitted(colour: tuple[int, int, int] = (1, 2, 3)) -> FittedImage:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG")
    return fit_start_image(out.getvalue(), 320, 320)


def job(job_id: int = 4, **params: object) -> JobRecord:
    return JobRecord(id=job_id, guild_id=1, channel_id=2, user_id=3, locale="en", template="wan-native-i2v",
                     params={"prompt": "p", **params}, cost=1, priority_class=0, round=0, state=JobState.QUEUED,
                     attempts=0, created_at=0.0, updated_at=0.0)


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_a_picture_is_kept_once_under_its_content_hash(tmp_path: Path) -> None:
    images = StartImages(tmp_path, keep_for=60)
    picture = fitted()
    ref = await images.keep(picture)
    assert ref == f"images/{picture.sha256}.png"
    assert images.path(ref) == tmp_path / "images" / f"{picture.sha256}.png"
    assert await images.read(ref) == picture.png
    age(images.path(ref), 3600)
    assert await images.keep(picture) == ref  # the same picture again: the same file, used anew
    assert time.time() - images.path(ref).stat().st_mtime < 60
    assert [p.name for p in (tmp_path / "images").iterdir()] == [f"{picture.sha256}.png"]


@pytest.mark.parametrize("ref", ["../../etc/passwd", "images/../x.png", "images/ABC.png", "images/12.png", ""])
def test_only_our_own_references_name_a_file(tmp_path: Path, ref: str) -> None:
    with pytest.raises(StartImageLost):
        StartImages(tmp_path, keep_for=60).path(ref)


async def test_reuse_keeps_it_longer_and_says_when_it_is_gone(tmp_path: Path) -> None:
    images = StartImages(tmp_path, keep_for=60)
    ref = await images.keep(fitted())
    age(images.path(ref), 3600)
    assert await images.reuse(ref) is True
    assert time.time() - images.path(ref).stat().st_mtime < 60
    images.path(ref).unlink()
    assert await images.reuse(ref) is False
    assert await images.reuse("not a ref") is False
    with pytest.raises(StartImageLost, match="no longer on disk"):
        await images.read(ref)
    assert await images.thumbnail(ref) is None


async def test_uploads_name_the_file_after_the_job_and_the_hash(tmp_path: Path) -> None:
    images = StartImages(tmp_path, keep_for=60, targets=lambda job: (("6", "image"),))
    picture = fitted()
    ref = await images.keep(picture)
    (upload,) = await images.uploads(job(12, **{START_IMAGE_PARAM: ref}))
    assert upload.name == f"job-12-{picture.sha256[:16]}.png"
    assert (upload.data, upload.targets, upload.subfolder) == (picture.png, (("6", "image"),), "wanbot")
    assert await images.uploads(job(13)) == []  # text-to-video: nothing to upload
    assert image_ref_of(job(13)) is None and image_ref_of(job(12, **{START_IMAGE_PARAM: ref})) == ref


async def test_the_sweep_removes_only_old_pictures_no_job_needs(tmp_path: Path) -> None:
    images = StartImages(tmp_path, keep_for=3600)
    assert await images.sweep([]) == 0  # nothing kept yet: no folder, nothing to do
    in_use, old, recent = [await images.keep(fitted(c)) for c in ((1, 1, 1), (2, 2, 2), (3, 3, 3))]
    age(images.path(in_use), 7200)
    age(images.path(old), 7200)
    leftover = tmp_path / "images" / "abc.png.part"  # a write cut short by a crash
    leftover.write_bytes(b"half")
    age(leftover, 7200)
    assert await images.sweep([in_use, "not a ref"]) == 2
    assert images.path(in_use).is_file() and images.path(recent).is_file()
    assert not images.path(old).exists() and not leftover.exists()
