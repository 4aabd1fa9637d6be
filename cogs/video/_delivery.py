"""Posting a finished video: the `Deliver` callback the dispatcher calls, idempotent per job.

Order of work for one job:
1. Was it perhaps posted already? A job the dispatcher's current attempt fetched itself and
   that has not been tried here yet (`bot.delivery.attempts` remembers recent tries, boundedly)
   cannot have been; otherwise (a retry, a job fetched before a restart or adopted from a
   process that died) the channel's messages since the card are
   searched, newest first and over as many pages as that takes (up to `_SEARCHED`
   messages), for the job marker (the Delete button's custom_id), and the earlier post is
   returned instead of posting twice.
2. Fit under the upload limit (the smaller of the interaction's and the guild's; 10 MiB by
   default): a file that fits is posted as it is, a bigger one is re-encoded
   (`bot.delivery.fit`: one `Encoder` per bot, WANBOT_ENCODE_CONCURRENCY re-encodes at once,
   ffmpeg killed when the delivery is cancelled). A 413 from Discord means the real limit is
   lower than we knew: re-encode smaller and try again. If no watchable encode fits, post a
   notice saying how to get the file instead.
3. Post with the bot token, as a reply to the card, pinging the requester only, with the
   start picture's thumbnail in the embed for an image-to-video job. Where the bot may not
   post, fall back to the interaction's followup while its token lives, then to a DM; each
   fallback is logged.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.delivery.attempts import PostAttempts
from bot.delivery.ffmpeg import FfmpegFailed, FfmpegTimedOut
from bot.delivery.fit import CannotFit, Encoder
from bot.jobs import JobRecord
from bot.jobs.dispatcher import DeliveryFailed
from bot.jobs.start_images import image_ref_of
from cogs._errors import discord_code, format_mb, token_is_dead
from cogs.video import _messages as text
from cogs.video._buttons import Action, custom_id, result_buttons
from cogs.video._card import START_THUMBNAIL, result_embed

if TYPE_CHECKING:
    from bot.app import WanBot
    from cogs.video._status import StatusCards

__all__ = ["DEFAULT_UPLOAD_LIMIT", "VideoDelivery"]

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 << 20  # Discord's default since 2025-01-16
_FIT_ATTEMPTS = 4  # the first post plus three re-encodes after 413s
_SHRINK_AFTER_413 = 0.7
# Messages read, at most, looking for an earlier post of a job (20 requests in a channel that
# busy; the search stops sooner at the job's start).
_SEARCHED = 2000
# Our clock and Discord's may disagree a little: start the search this much before the job.
_CLOCK_SKEW = 300.0
_KEPT_DIR = "too-large"
_DISCORD_EPOCH = discord.utils.DISCORD_EPOCH / 1000  # seconds: no snowflake is older


@dataclass
class _Upload:
    path: Path
    size: int
    reencoded: bool
    width: int = 0
    height: int = 0

    def discard(self) -> None:
        if self.reencoded:
            self.path.unlink(missing_ok=True)


@dataclass
class _Post:
    """One message to post for a job (in its channel, as a followup, or by DM)."""

    content: str
    embed: discord.Embed
    file: Path | None = None
    filename: str = "video.mp4"
    dm_content: str | None = None  # what to say instead in a DM (default: "could not post in #…")
    thumbnail: bytes | None = None  # the start picture's, shown in the embed (attachment://)

    def kwargs(self, job: JobRecord, *, in_dm: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = {
            "content": self.content,
            "embed": self.embed,
            "view": result_buttons(job, in_dm=in_dm),
            # The requester only: prompts are member text and never ping anyone.
            "allowed_mentions": discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                                        users=[discord.Object(job.user_id)]),
        }
        files = []  # new per attempt: a discord.File is read once
        if self.file is not None:
            files.append(discord.File(self.file, filename=self.filename))
        if self.thumbnail is not None:
            files.append(discord.File(io.BytesIO(self.thumbnail), filename=START_THUMBNAIL))
        if files:
            values["files"] = files
        return values


def _thumbnail_url(thumbnail: bytes | None) -> str | None:
    return f"attachment://{START_THUMBNAIL}" if thumbnail is not None else None


def _job_start(job: JobRecord) -> discord.abc.Snowflake:
    """A snowflake no later than any post of `job`: its card (posted when the job was queued,
    and every post replies to it), else its creation time."""
    if job.status_message_id:
        return discord.Object(id=job.status_message_id)
    created = datetime.fromtimestamp(max(job.created_at - _CLOCK_SKEW, _DISCORD_EPOCH), timezone.utc)
    return discord.Object(id=discord.utils.time_snowflake(created, high=False))


def _custom_ids(components: list[Any]) -> Iterator[str]:
    for component in components:
        value = getattr(component, "custom_id", None)
        if value:
            yield value
        yield from _custom_ids(list(getattr(component, "children", []) or []))


class VideoDelivery:
    """The dispatcher's `Deliver`: posts a job's video once and returns the message id."""

    def __init__(self, bot: WanBot, cards: StatusCards) -> None:
        self.bot = bot
        self.services = bot.services
        self.cards = cards
        self.attempts = PostAttempts(self.services.clock.now)
        self.encoder = Encoder(self.services.settings.encode_concurrency)

    async def __call__(self, job: JobRecord, video: Path) -> int | None:
        if self._may_have_posted(job):
            earlier = await self._earlier_post(job)
            if earlier is not None:
                log.info("video already posted as message %s: not posting again", earlier)
                return earlier
        with self.attempts.attempt(job.id):
            return await self._attempt(job, video)

    async def _attempt(self, job: JobRecord, video: Path) -> int:
        """One try at posting, every failure said as DeliveryFailed."""
        try:
            return await self._deliver(job, video)
        except DeliveryFailed:
            raise
        except discord.HTTPException as exc:
            self.services.metrics.discord_error(discord_code(exc) or "http")
            permanent = exc.status in (400, 401, 403, 404)
            raise DeliveryFailed(f"Discord answered {exc.status}/{exc.code}: {exc.text}", permanent=permanent) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"could not reach Discord: {type(exc).__name__}") from exc

    # -- exactly once -----------------------------------------------------------------------

    def _may_have_posted(self, job: JobRecord) -> bool:
        """False only for a job the dispatcher's attempt fetched itself and never tried here:
        nobody else can have posted it."""
        return job.id in self.attempts or not self.services.dispatcher.fetched_here(job.id)

    async def _earlier_post(self, job: JobRecord) -> int | None:
        marker = custom_id(Action.DELETE, job.id)
        after = _job_start(job)
        channel = self._channel(job)
        found = await self._search(channel, marker, after)
        if found is None and not self._may_post(channel, files=True):
            found = await self._search(await self._dm_channel(job), marker, after)
        return found

    async def _search(self, channel: discord.abc.Messageable | None, marker: str,
                      after: discord.abc.Snowflake) -> int | None:
        """Our post carrying `marker` among the messages since `after`, newest first: after a
        restart the post is usually recent. discord.py pages backwards 100 at a time and stops
        at `after`, so a quiet channel costs one request and a busy one at most
        `_SEARCHED // 100`."""
        if channel is None or self.bot.user is None:
            return None
        read = 0
        try:
            async for message in channel.history(limit=_SEARCHED, after=after, oldest_first=False):
                read += 1
                if message.author.id == self.bot.user.id and marker in _custom_ids(message.components):
                    return message.id
        except discord.HTTPException as exc:
            log.warning("could not read recent messages to look for an earlier post: %s/%s", exc.status, exc.code)
        if read >= _SEARCHED:
            log.warning("no earlier post among the newest %d messages since the job started: posting", read)
        return None

    # -- fitting ----------------------------------------------------------------------------

    def _upload_limit(self, job: JobRecord) -> int:
        limits = []
        interaction = self.cards.live_interaction(job.id)
        if interaction is not None:
            limits.append(interaction.filesize_limit)
        guild = self.bot.get_guild(job.guild_id) if job.guild_id else None
        if guild is not None:
            limits.append(guild.filesize_limit)
        return min(limits) if limits else DEFAULT_UPLOAD_LIMIT

    async def _fit(self, video: Path, limit: int) -> _Upload:
        """The file to upload: `video` itself when it fits, else a re-encode; raises CannotFit
        when no watchable encode fits."""
        size = video.stat().st_size
        if size <= limit:
            return _Upload(video, size, reencoded=False)
        dest = video.with_name(f"{video.stem}.fit.mp4")
        try:
            fitted = await self.encoder.fit(video, dest, limit)
        except FfmpegTimedOut as exc:  # a machine too busy for now: the dispatcher tries again later
            dest.unlink(missing_ok=True)
            raise DeliveryFailed(f"re-encoding to fit {limit} bytes: {exc}") from exc
        except (ValueError, FfmpegFailed) as exc:  # not a readable video, or ffmpeg failed
            dest.unlink(missing_ok=True)
            raise DeliveryFailed(f"re-encoding to fit {limit} bytes failed: {exc}", permanent=True) from exc
        log.info("re-encoded %d -> %d bytes (%dx%d) to fit %d", size, fitted.bytes, fitted.width, fitted.height, limit)
        return _Upload(fitted.path, fitted.bytes, True, fitted.width, fitted.height)

    async def _deliver(self, job: JobRecord, video: Path) -> int:
        limit = self._upload_limit(job)
        ref = image_ref_of(job)
        thumbnail = await self.services.images.thumbnail(ref) if ref is not None else None
        for _ in range(_FIT_ATTEMPTS):
            try:
                upload = await self._fit(video, limit)
            except CannotFit as exc:
                return await self._post_notice(job, video, exc, thumbnail)
            try:
                return await self._post(job, self._video_post(job, upload, limit, thumbnail))
            except discord.HTTPException as exc:
                if exc.status != 413:
                    raise
                self.services.metrics.discord_error(discord_code(exc) or 413)
                log.warning("Discord refused %d bytes as too large: re-encoding smaller", upload.size)
                limit = int(min(limit, upload.size) * _SHRINK_AFTER_413)
            finally:
                upload.discard()
        return await self._post_notice(job, video, CannotFit(video.stat().st_size, limit, 0.0), thumbnail)

    def _video_post(self, job: JobRecord, upload: _Upload, limit: int, thumbnail: bytes | None) -> _Post:
        note = None
        if upload.reencoded:
            note = text.REENCODED.render(job.locale, limit_mb=format_mb(limit), width=upload.width, height=upload.height)
        content = text.RESULT.render(job.locale, mention=f"<@{job.user_id}>", job_id=job.id)
        embed = result_embed(job, note=note, show_workflow=len(self.services.templates) > 1,
                             thumbnail_url=_thumbnail_url(thumbnail))
        return _Post(content, embed, upload.path, f"wanbot-{job.id}.mp4", thumbnail=thumbnail)

    async def _post_notice(self, job: JobRecord, video: Path, exc: CannotFit, thumbnail: bytes | None) -> int:
        """The video cannot be posted: keep it, and tell the member how to get it."""
        name = f"job-{job.id}.mp4"
        kept = self.services.settings.output_dir / _KEPT_DIR / name
        kept.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, video, kept)
        url = self.services.settings.public_output_url
        how = (text.TOO_LARGE_LINK.render(job.locale, url=f"{url.rstrip('/')}/{name}") if url
               else text.TOO_LARGE_ASK.render(job.locale, name=name))
        log.warning("video cannot fit the upload limit (%s); kept as %s", exc, kept)
        content = text.TOO_LARGE_NOTICE.render(job.locale, mention=f"<@{job.user_id}>", job_id=job.id,
                                               size_mb=format_mb(exc.size), limit_mb=format_mb(exc.limit), how=how)
        embed = result_embed(job, thumbnail_url=_thumbnail_url(thumbnail))
        return await self._post(job, _Post(content, embed, dm_content=content, thumbnail=thumbnail))

    # -- posting ----------------------------------------------------------------------------

    def _channel(self, job: JobRecord) -> discord.abc.Messageable:
        channel = self.bot.get_channel(job.channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id or None)

    @staticmethod
    def _permissions(channel: discord.abc.Messageable) -> discord.Permissions | None:
        """The bot's permissions there, from the cache (None when it cannot tell)."""
        if not isinstance(channel, (discord.abc.GuildChannel, discord.Thread)) or channel.guild.me is None:
            return None
        return channel.permissions_for(channel.guild.me)

    def _may_post(self, channel: discord.abc.Messageable, *, files: bool) -> bool:
        """What the permission cache says (True when it cannot tell: Discord will)."""
        perms = self._permissions(channel)
        if perms is None:
            return True
        sendable = perms.send_messages_in_threads if isinstance(channel, discord.Thread) else perms.send_messages
        return sendable and perms.embed_links and (perms.attach_files or not files)

    async def _post(self, job: JobRecord, post: _Post) -> int:
        """Post in the job's channel, else as the interaction's followup, else by DM."""
        channel = self._channel(job)
        if self._may_post(channel, files=post.file is not None):
            try:
                return await self._post_in_channel(job, channel, post)
            except discord.Forbidden as exc:
                self.services.metrics.discord_error(discord_code(exc) or 403)
        log.warning("no permission to post in channel %s: falling back", job.channel_id)
        interaction = self.cards.live_interaction(job.id)
        if interaction is not None:
            try:
                message = await interaction.followup.send(wait=True, **post.kwargs(job))
            except discord.HTTPException as exc:
                if not token_is_dead(exc):
                    raise
            else:
                log.warning("posted as the interaction's followup instead")
                return message.id
        return await self._post_in_dm(job, post)

    async def _post_in_channel(self, job: JobRecord, channel: discord.abc.Messageable, post: _Post) -> int:
        reference = None
        perms = self._permissions(channel)
        # A reply needs Read Message History; without it the video goes out as a plain message.
        if job.status_message_id and (perms is None or perms.read_message_history):
            reference = discord.MessageReference(message_id=job.status_message_id, channel_id=job.channel_id,
                                                 guild_id=job.guild_id or None, fail_if_not_exists=False)
        message = await channel.send(reference=reference, **post.kwargs(job))  # type: ignore[arg-type]
        return message.id

    async def _dm_channel(self, job: JobRecord) -> discord.DMChannel | None:
        try:
            user = self.bot.get_user(job.user_id) or await self.bot.fetch_user(job.user_id)
            return user.dm_channel or await user.create_dm()
        except discord.HTTPException:
            return None

    async def _post_in_dm(self, job: JobRecord, post: _Post) -> int:
        channel = await self._dm_channel(job)
        if channel is None:
            raise DeliveryFailed("no permission in the channel, the token expired, and the user is unknown",
                                 permanent=True)
        kwargs = post.kwargs(job, in_dm=True)
        kwargs["content"] = post.dm_content or text.RESULT_IN_DM.render(job.locale, channel_id=job.channel_id,
                                                                         job_id=job.id)
        try:
            message = await channel.send(**kwargs)
        except discord.Forbidden as exc:
            self.services.metrics.discord_error(discord_code(exc) or 403)
            raise DeliveryFailed("no permission in the channel, the token expired, and DMs are closed",
                                 permanent=True) from exc
        log.warning("posted by DM to the requester instead")
        return message.id
