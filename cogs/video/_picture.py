"""A member's start picture, from Discord to a kept file: the cog's side of image-to-video.

`check_declared` refuses an attachment by the size it declares, before anything is downloaded
(and before the 3-second defer, since it costs nothing). `picture_from` downloads it with
discord.py (`Attachment.read()`), has `bot.workflows.start_image` check and fit it to the
request's frame in a thread, and keeps it (`bot.jobs.start_images`): it returns the reference
the job's params carry. `picture_reused` is Reroll's and Same settings': the source job's kept
picture, used again, or a refusal when it is no longer kept. Every refusal after the defer is
a `PictureRefused` carrying the sentence for the member (a wrong picture: the checks' own).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.workflows import RequestInvalid, VideoRequest
from bot.workflows.start_image import check_declared_size, fit_start_image
from cogs._errors import describe
from cogs.video import _messages as text

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["PictureRefused", "check_declared", "picture_from", "picture_reused"]


class PictureRefused(Exception):
    """The picture cannot be used; `text` says why in the member's language."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def check_declared(attachment: discord.Attachment) -> None:
    """Refuse by the declared size before downloading. Raises RequestInvalid."""
    check_declared_size(attachment.size)


async def picture_from(services: Services, attachment: discord.Attachment, request: VideoRequest,
                       locale: object) -> str:
    """Download, check, fit and keep the picture; its reference for the job's params."""
    try:
        data = await attachment.read()
    except (discord.HTTPException, aiohttp.ClientError, TimeoutError):
        raise PictureRefused(text.PICTURE_DOWNLOAD_FAILED.render(locale)) from None
    try:
        fitted = await asyncio.to_thread(fit_start_image, data, request.width, request.height)
    except RequestInvalid as exc:
        raise PictureRefused(describe(exc, locale) or str(exc)) from None
    return await services.images.keep(fitted)


async def picture_reused(services: Services, ref: str, locale: object) -> str:
    """The source job's picture, marked used again. Raises PictureRefused when it is gone."""
    if not await services.images.reuse(ref):
        days = f"{services.settings.image_keep_days:g}"
        raise PictureRefused(text.PICTURE_GONE.render(locale, days=days))
    return ref
