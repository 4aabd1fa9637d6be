"""Status cards kept up to date: the `JobObserver` the dispatcher calls, and the edits it makes.

Each card has at most one edit in flight and one pending; the pending state is replaced by
every newer one (latest wins), and an edit goes out at most once per `interval` seconds
(Discord throttles message edits per channel). Final states (delivered, failed, cancelled)
skip the wait. When a job leaves the queue, the cards of jobs still queued are refreshed too
(their position moved), through the same throttle — those whose interaction token still lives
only: bot-token edits share one per-channel rate limit, and the ETA is a Discord timestamp
(`<t:…:R>`) that counts down on its own.

Which token edits a card: the interaction's own webhook while it lives (it works even where
the bot may not post, and its rate limits are per interaction), else the bot token
(`PartialMessage.edit` on the stored `status_message_id`). A 401/50027 from the webhook —
the 15-minute token died earlier than we counted — switches the card to the bot token for
good. After a restart there is no interaction: cards are rebuilt from the job record alone. So are
the cards of jobs this process adopted from another one that died: the new owner edits them with
the bot token, from the stored `status_message_id`. An edit that needs the database while it is
unreachable is tried again after the interval.

While the sampler runs, the card shows the latest live preview (`_preview.py`) as its embed
image, uploaded with the edit. Edits that upload a preview, and bot-token edits, wait for the
shared budget (`_budget.py`). The preview leaves the card as soon as the job is no longer
rendering: when the MP4 is posted, on failure, cancel or requeue; a card rebuilt after a
restart is cleared on its first edit, in case a preview from before lingers.

An image-to-video card also shows its start picture, as the embed's thumbnail: a small JPEG
(`start.jpg`) uploaded with the card's first edit in this process, then kept by its id.
Discord shows a file inside an embed only while the edit that sets the embed names it
`attachment://<filename>`; a file named by its URL, or not named, is shown loose below the
message. So every edit names both files so and sends the whole list the card keeps: the start
picture and the preview, the start picture alone once the preview leaves, or nothing of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.comfy.previews import Preview
from bot.comfy.watch import Progress
from bot.jobs import FINISHED_STATES, JobRecord, JobState, StoreUnavailable
from bot.jobs.dispatcher import JobObserver
from bot.jobs.start_images import image_ref_of
from bot.logs import job_context
from bot.workflows import WAN_NEGATIVE_PROMPT
from cogs._errors import NO_MENTIONS, discord_code, token_is_dead
from cogs.video._budget import EditBudget
from cogs.video._buttons import card_buttons
from cogs.video._card import START_THUMBNAIL, card_embed
from cogs.video._preview import PreviewImage, PreviewReel

if TYPE_CHECKING:
    from bot.app import WanBot

__all__ = ["EDIT_INTERVAL", "TOKEN_LIFETIME", "StatusCards"]

log = logging.getLogger(__name__)

EDIT_INTERVAL = 2.0
# Discord's interaction tokens live 15 minutes; stop using one a minute early, so an edit
# in flight never races the expiry (a late 50027 is handled anyway).
TOKEN_LIFETIME = 15 * 60.0 - 60.0
# States a job enters when it leaves the queue (claimed, or cancelled/failed while waiting).
_LEFT_THE_QUEUE = (JobState.SUBMITTED, JobState.CANCELLED, JobState.FAILED)
# States whose card shows a queue place or an ETA, read from the scheduler at each edit.
_SHOWS_PLACE = (JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING)
# States whose card shows the live preview: from the first frame until the MP4 is posted.
_SHOWS_PREVIEW = (JobState.SUBMITTED, JobState.RUNNING, JobState.FETCHED)


@dataclass
class _Card:
    """One status card this process knows about."""

    job: JobRecord  # the newest record seen
    interaction: discord.Interaction | None = None
    token_deadline: float = 0.0
    message_id: int | None = None
    progress: Progress | None = None  # the latest progress of `job`, if it is rendering
    dirty: bool = False  # the card shows less than what is known: an edit is due
    final: bool = False
    last_edit: float = float("-inf")
    unreachable: bool = False  # deleted, or no permission and no token: stop trying
    start: discord.Attachment | None = None  # the start picture's thumbnail, once this process put it there
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    shown: asyncio.Event = field(default_factory=asyncio.Event)
    reel: PreviewReel | None = None  # the live preview's frames, while the job renders
    shows_preview: bool = False  # the message holds our preview attachment
    may_hold_preview: bool = False  # rebuilt after a restart: a preview from before may linger

    def token_alive(self, now: float) -> bool:
        return self.interaction is not None and now < self.token_deadline


class StatusCards(JobObserver):
    """Every status card this process is updating."""

    def __init__(self, bot: WanBot, *, interval: float = EDIT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic, budget: EditBudget | None = None) -> None:
        self.bot = bot
        self.services = bot.services
        self.interval = interval
        self.clock = clock
        settings = self.services.settings
        self.preview_mode = settings.preview
        self.budget = budget or EditBudget(settings.preview_uploads_per_second)
        self._cards: dict[int, _Card] = {}
        self._default_negatives = {WAN_NEGATIVE_PROMPT} | {
            str(t.default("negative_prompt")) for t in self.services.templates.values() if t.default("negative_prompt")
        }

    # -- what the cog and the delivery ask --------------------------------------------------

    async def show(self, job: JobRecord, interaction: discord.Interaction, message_id: int | None) -> None:
        """Turn the interaction's deferred placeholder (`message_id`, when known) into the card
        of `job` (the first edit goes out at once) and keep the interaction for later edits
        while its token lives. The id is stored before the edit: a restart right after it
        must still find the card."""
        if message_id is not None:
            try:
                await self.services.reads.set_status_message(job.id, message_id)
            except StoreUnavailable:  # the job is queued: its first edit stores the id instead
                log.warning("could not store the card's message id yet (database unavailable)")
                message_id = None
        card = self._cards.setdefault(job.id, _Card(job, message_id=message_id))
        card.interaction = interaction
        card.token_deadline = self.clock() + TOKEN_LIFETIME
        self._push(card, job, None)
        if card.task is not None:  # None only if the card was already final here
            await card.shown.wait()

    def live_interaction(self, job_id: int) -> discord.Interaction | None:
        """The interaction behind a job's card while its token lives (for followups)."""
        card = self._cards.get(job_id)
        return card.interaction if card is not None and card.token_alive(self.clock()) else None

    async def close(self) -> None:
        """Stop every pending edit (the bot is closing)."""
        tasks = [card.task for card in self._cards.values() if card.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)  # unlike awaiting each, a cancel of close() itself still propagates
        self._cards.clear()

    # -- JobObserver ------------------------------------------------------------------------

    async def on_state(self, job: JobRecord) -> None:
        card = self._card_for(job)
        if card is not None:
            self._push(card, job, None)
        if job.state in _LEFT_THE_QUEUE:
            self._queue_moved()

    async def on_progress(self, job: JobRecord, progress: Progress) -> None:
        card = self._card_for(job)
        if card is not None:
            self._push(card, job, progress)

    async def on_preview(self, job: JobRecord, preview: Preview) -> None:
        if self.preview_mode == "off":
            return  # a server that ignores the per-prompt method may send them anyway
        card = self._card_for(job)
        if card is None or card.final or card.unreachable or card.job.state not in _SHOWS_PREVIEW:
            return
        if card.reel is None:
            card.reel = PreviewReel(animated=self.preview_mode == "animated")
        card.reel.add(preview)
        self._mark_dirty(card)

    # -- the throttle -----------------------------------------------------------------------

    def _card_for(self, job: JobRecord) -> _Card | None:
        card = self._cards.get(job.id)
        if card is None and job.status_message_id is not None:
            # A job from before a restart, or one whose card was already finished here.
            card = self._cards[job.id] = _Card(job, message_id=job.status_message_id, may_hold_preview=True)
        return card

    def _push(self, card: _Card, job: JobRecord, progress: Progress | None) -> None:
        if card.final or card.unreachable:
            return
        if job.updated_at < card.job.updated_at:
            return  # an older record overtaken by a newer one: latest wins
        card.job, card.progress = job, progress
        card.final = job.state in FINISHED_STATES
        if job.state not in _SHOWS_PREVIEW:
            card.reel = None  # requeued or finished: the next edit takes the preview off
        self._mark_dirty(card)

    def _mark_dirty(self, card: _Card) -> None:
        card.dirty = True
        card.wake.set()
        if card.task is None:
            card.task = asyncio.create_task(self._run(card), name=f"card-{card.job.id}")

    def _queue_moved(self) -> None:
        """Queued jobs moved up: refresh their cards (position, ETA) when next allowed."""
        now = self.clock()
        for card in list(self._cards.values()):
            if card.job.state is JobState.QUEUED and not card.dirty and card.token_alive(now):
                self._mark_dirty(card)

    async def _run(self, card: _Card) -> None:
        with job_context(job=card.job.id, guild=card.job.guild_id, user=card.job.user_id):
            try:
                while card.dirty and not card.unreachable:
                    due = card.last_edit + self.interval - self.clock()
                    if due > 0 and not card.final:
                        card.wake.clear()
                        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel
                        # that lands in the same iteration as the wake-up.
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(due):
                                await card.wake.wait()
                        continue  # re-check: a final state may have arrived meanwhile
                    card.dirty = False
                    await self._edit(card)
                    card.last_edit = self.clock()
            finally:
                card.task = None
                card.shown.set()
                if card.final or card.unreachable:
                    self._cards.pop(card.job.id, None)

    # -- one edit ---------------------------------------------------------------------------

    async def _render(self, card: _Card, image: PreviewImage | None,
                      *, start: bool) -> tuple[discord.Embed, PreviewImage | None]:
        """The card as of now (with the start picture as its thumbnail if `start`), and the
        preview it shows (`image`, unless the job stopped rendering). The record may be a
        little behind the store (a coalesced edit, a queue refresh): for an unfinished job the
        store's answer wins."""
        job, progress, place = card.job, card.progress, None
        if job.state in _SHOWS_PLACE:
            detail = await self.services.reads.detail(job.id)
            place = detail.place if detail is not None else None
            current = detail.job if detail is not None else None
            if current is not None and current.state is not job.state:
                job, progress = current, None  # it moved on: show where it is now
                card.job, card.final = job, job.state in FINISHED_STATES
        if job.state not in _SHOWS_PREVIEW:
            card.reel = image = None
        negative = str(job.params.get("negative_prompt") or "")
        embed = card_embed(job, place=place, progress=progress, show_workflow=len(self.services.templates) > 1,
                           custom_negative=negative not in self._default_negatives,
                           thumbnail_url=f"attachment://{START_THUMBNAIL}" if start else None,
                           image_url=f"attachment://{image.filename}" if image is not None else None)
        return embed, image

    async def _thumbnail(self, card: _Card) -> bytes | None:
        """The start picture's thumbnail to upload with this edit: until the card holds it."""
        ref = image_ref_of(card.job)
        if ref is None or card.start is not None:
            return None
        return await self.services.images.thumbnail(ref)

    async def _edit(self, card: _Card) -> None:
        try:
            with_token = card.token_alive(self.clock())
            # Wait first, then build: the edit carries the newest frames and the newest state.
            # A start picture's thumbnail takes no upload token (see _budget.py).
            if card.reel is not None and card.reel.has_frames:
                await self.budget.upload()
            if not with_token:
                await self.budget.channel_edit(card.job.channel_id)
            image, version = await card.reel.image() if card.reel is not None else (None, 0)
            thumb = await self._thumbnail(card)
            embed, image = await self._render(card, image, start=thumb is not None or card.start is not None)
            view = card_buttons(card.job)
            message = None
            if with_token:
                message = await self._edit_with_token(card, embed, view, image, thumb)
            if message is None:
                message = await self._edit_with_bot(card, embed, view, image, thumb, budgeted=not with_token)
            if message is not None:
                self._edited(card, message, image, version, uploaded_start=thumb is not None)
        except discord.HTTPException as exc:
            self.services.metrics.discord_error(discord_code(exc) or "http")
            log.warning("card edit failed: %s/%s", exc.status, exc.code)
            if exc.status in (403, 404):
                card.unreachable = True  # deleted, or no permission: say nothing more there
        except StoreUnavailable:
            log.info("card edit waits for the database")
            card.dirty = True  # tried again after a pause (final cards too), until it answers
            await asyncio.sleep(self.interval)
        except Exception:  # a card is cosmetic: the job goes on without it
            log.exception("card edit failed")
        finally:
            card.shown.set()

    @staticmethod
    def _files(card: _Card, image: PreviewImage | None, thumb: bytes | None) -> dict[str, Any]:
        """The edit's `attachments`, the whole list the message keeps: the start picture
        (uploaded now, or kept by id), then the preview; `[]` to take a preview off; absent
        when the message holds nothing of ours (its files are left alone). Files are made for
        each request: discord.py closes a File it sent."""
        files: list[discord.Attachment | discord.File] = []
        if thumb is not None:
            files.append(discord.File(io.BytesIO(thumb), START_THUMBNAIL))
        elif card.start is not None:
            files.append(card.start)
        if image is not None:
            files.append(discord.File(io.BytesIO(image.data), image.filename))
        if files or card.shows_preview or card.may_hold_preview:
            return {"attachments": files}
        return {}

    def _edited(self, card: _Card, message: discord.Message, image: PreviewImage | None, version: int,
                *, uploaded_start: bool) -> None:
        """The edit went out: remember what the card shows."""
        card.may_hold_preview = False
        card.shows_preview = image is not None
        if uploaded_start:  # kept by id from now on; if the answer does not list it, the next edit uploads it again
            card.start = next((a for a in message.attachments if a.filename == START_THUMBNAIL), None)
        if image is not None and card.reel is not None:
            arrived = card.reel.shown(version)
            if arrived is not None:
                self.services.metrics.preview_shown(time.monotonic() - arrived)

    async def _edit_with_token(self, card: _Card, embed: discord.Embed, view: discord.ui.View | None,
                               image: PreviewImage | None, thumb: bytes | None) -> discord.Message | None:
        """Edit through the interaction webhook; None when its token turned out dead."""
        assert card.interaction is not None
        try:
            message = await card.interaction.edit_original_response(embed=embed, view=view,
                                                                    allowed_mentions=NO_MENTIONS,
                                                                    **self._files(card, image, thumb))
        except discord.HTTPException as exc:
            if not token_is_dead(exc):
                raise
            self.services.metrics.discord_error(discord_code(exc) or 401)
            log.info("interaction token expired: card edits switch to the bot token")
            card.interaction = None
            return None
        if card.message_id is None:
            card.message_id = message.id
            await self.services.reads.set_status_message(card.job.id, message.id)
        return message

    async def _edit_with_bot(self, card: _Card, embed: discord.Embed, view: discord.ui.View | None,
                             image: PreviewImage | None, thumb: bytes | None, *,
                             budgeted: bool) -> discord.Message | None:
        """Edit through the bot token, within the channel's budget (already taken if
        `budgeted`); None when there is no message to edit yet."""
        if card.message_id is None:
            log.info("card has no message yet: edit skipped")
            return None
        if not budgeted:  # the interaction's token died just now
            await self.budget.channel_edit(card.job.channel_id)
        channel = self.bot.get_partial_messageable(card.job.channel_id, guild_id=card.job.guild_id or None)
        message = channel.get_partial_message(card.message_id)
        return await message.edit(embed=embed, view=view, **self._files(card, image, thumb))
