"""`/video` and the buttons on cards and videos. The cog decides nothing.

A request goes: the template chosen by whether a picture came with it (`pick_template`:
image-to-video with one, text-to-video without) → options checked against it (`VideoRequest.
build`: pure, no I/O, so a mistake is answered at once, privately; a picture over the size
limit too, by its declared size) → public defer (the 3-second clock stops; the "thinking…"
placeholder will become the status card) → the picture downloaded, checked, fitted and kept
(`_picture`) → admission (limits, moderation, channel rules) → queued, the dispatcher woken →
the card shown. A refusal removes the placeholder and answers privately, in the member's
language, with the reason and when to retry. Reroll and "Same settings" on a posted video take
the same path with the source job's parameters (a new seed for Reroll) and its kept picture;
Cancel and Delete are for the owner or a moderator.

Remix (on a posted video, and on `/history`) opens a form (`_remix.RemixForm`) pre-filled with
the source job's prompt and negative prompt; its submit takes the same path again, with the
source job's parameters — every one it stored, whatever this code knows of, and its kept
picture — except the edited prompt, negative prompt and seed. Whoever clicks becomes the owner
of the new job, under their own limits. Submits are answered by a listener, from the form's
custom_id alone, so a form opened before a restart still works after it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.jobs import AdmissionRefused, CancelOutcome, JobRecord, JobRequest, Requester
from bot.jobs.start_images import START_IMAGE_PARAM, image_ref_of
from bot.logs import job_context
from bot.workflows import PARAMS, RequestInvalid, Template, VideoRequest, pick_template
from cogs._errors import (
    NO_MENTIONS,
    UNEXPECTED,
    defer_public,
    describe,
    discord_code,
    placeholder_replaced,
    reply_error,
)
from cogs._permissions import is_moderator
from cogs.video import _messages as text
from cogs.video._buttons import COG_NAME, Action
from cogs.video._options import VideoOptions, build_video_command
from cogs.video._picture import PictureRefused, check_declared, picture_from, picture_reused
from cogs.video._remix import FORM_ID, RemixEntry, RemixForm, not_editable
from cogs.video._status import StatusCards

if TYPE_CHECKING:
    from bot.app import WanBot

__all__ = ["VideoCog"]

log = logging.getLogger(__name__)


class VideoCog(commands.Cog, name=COG_NAME):
    """Members' video requests and the buttons of their cards and videos."""

    def __init__(self, bot: WanBot, cards: StatusCards) -> None:
        self.bot = bot
        self.services = bot.services
        self.cards = cards
        labels = {name: (t.label("en-US"), t.label("zh-CN")) for name, t in self.services.templates.items()}
        self.command = build_video_command(self.create_from_options, list(self.services.templates), labels)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name)
        await self.cards.close()

    # -- requests ---------------------------------------------------------------------------

    async def create_from_options(self, interaction: discord.Interaction, options: VideoOptions) -> None:
        """`/video`'s callback: validate, defer, admit, queue and show the card; every refusal
        answered privately."""
        with job_context(guild=interaction.guild_id, user=interaction.user.id):
            try:
                await self._from_options(interaction, options)
            except Exception as exc:  # noqa: BLE001 - the member must hear back whatever happened
                await self._failed(interaction, exc)

    async def _from_options(self, interaction: discord.Interaction, options: VideoOptions) -> None:
        try:
            template = pick_template(self.services.templates, options.workflow, image=options.image is not None)
        except RequestInvalid as exc:  # a picture and no image-to-video, or the reverse
            self.services.metrics.refused("invalid")
            await reply_error(interaction, describe(exc, interaction.locale) or str(exc))
            return
        await self._create(interaction, template, options.params(), None, attachment=options.image)

    async def _create(self, interaction: discord.Interaction, template: Template, raw: dict[str, Any],
                      placeholder: int | None, *, carried: Mapping[str, Any] | None = None,
                      attachment: discord.Attachment | None = None, image_ref: str | None = None) -> None:
        """`placeholder`: the message id of a public defer already made (a button click);
        `carried`: stored params of a source job that the request does not check, kept as they
        are. The start picture is a new `attachment` (/video) or a kept `image_ref` (Reroll,
        Same settings, Remix)."""
        locale = interaction.locale
        if not self.services.accepting:
            await reply_error(interaction, text.RESTARTING.render(locale))
            return
        try:
            request = VideoRequest.build(template, **raw)
            if attachment is not None:
                check_declared(attachment)  # before downloading anything
        except RequestInvalid as exc:
            self.services.metrics.refused("invalid")
            await reply_error(interaction, describe(exc, locale) or str(exc))
            return
        # Nothing slower than the defer may come before it: the 3-second clock is running.
        if not interaction.response.is_done():
            placeholder = await defer_public(interaction)
        params = {**(carried or {}), **request.to_params()}
        try:
            if attachment is not None:
                params[START_IMAGE_PARAM] = await picture_from(self.services, attachment, request, locale)
            elif image_ref is not None:
                params[START_IMAGE_PARAM] = await picture_reused(self.services, image_ref, locale)
        except PictureRefused as exc:
            self.services.metrics.refused("invalid")
            log.info("start picture refused: %s", exc)
            await reply_error(interaction, exc.text)
            return
        try:
            job = await self.services.admission.submit(self._requester(interaction),
                                                       JobRequest(template.name, params))
        except AdmissionRefused as exc:
            self.services.metrics.refused(exc.reason.value)
            log.info("refused: %s", exc)
            await reply_error(interaction, describe(exc, locale, now=self.services.clock.now()) or str(exc))
            return
        self.services.dispatcher.kick()
        placeholder_replaced(interaction)
        with job_context(job=job.id):
            log.info("queued")
            await self.cards.show(job, interaction, placeholder)

    def _requester(self, interaction: discord.Interaction) -> Requester:
        user = interaction.user
        roles = tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()
        assert interaction.guild_id is not None and interaction.channel_id is not None  # guild_only
        return Requester(
            guild_id=interaction.guild_id, channel_id=interaction.channel_id, user_id=user.id,
            locale=str(interaction.locale), role_ids=roles,
            is_admin=is_moderator(user, self.services.settings.admin_role),
        )

    async def _failed(self, interaction: discord.Interaction, exc: Exception) -> None:
        if isinstance(exc, discord.HTTPException):
            self.services.metrics.discord_error(discord_code(exc) or "http")
        explained = describe(exc, interaction.locale)
        if explained is None:
            log.error("video request failed", exc_info=exc)
        else:
            log.warning("video request failed: %s", exc)
        await reply_error(interaction, explained or UNEXPECTED.render(interaction.locale))

    # -- buttons ----------------------------------------------------------------------------

    async def on_button(self, interaction: discord.Interaction, action: Action, job_id: int) -> None:
        """A click on a card's or a video's button (routed by `JobButton`)."""
        with job_context(job=job_id, guild=interaction.guild_id, user=interaction.user.id):
            try:
                if action is Action.CANCEL:
                    await self._cancel(interaction, job_id)
                elif action is Action.DELETE:
                    await self._delete(interaction, job_id)
                elif action is Action.REMIX:
                    await self._open_remix(interaction, job_id)
                else:
                    await self._again(interaction, job_id, new_seed=action is Action.REROLL)
            except Exception as exc:  # noqa: BLE001 - a click must always get an answer
                await self._failed(interaction, exc)

    def _is_moderator(self, interaction: discord.Interaction) -> bool:
        return is_moderator(interaction.user, self.services.settings.admin_role)

    async def _cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.services.dispatcher.cancel(job_id, interaction.user.id,
                                                       is_admin=self._is_moderator(interaction))
        if result.outcome is CancelOutcome.CANCELLED:
            log.info("cancelled by %s", "the owner" if result.job and result.job.user_id == interaction.user.id
                     else "a moderator")
        await interaction.edit_original_response(content=result.render(interaction.locale, job_id),
                                                 allowed_mentions=NO_MENTIONS)

    async def _delete(self, interaction: discord.Interaction, job_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self.services.reads.job(job_id)
        owner = job is not None and job.user_id == interaction.user.id
        if not owner and not self._is_moderator(interaction):
            answer = text.DELETE_NOT_ALLOWED.render(interaction.locale, job_id=job_id)
        else:
            if interaction.message is not None:
                await interaction.message.delete()
            log.info("video deleted by %s", "the owner" if owner else "a moderator")
            answer = text.DELETED.render(interaction.locale)
        await interaction.edit_original_response(content=answer, allowed_mentions=NO_MENTIONS)

    async def _again(self, interaction: discord.Interaction, job_id: int, *, new_seed: bool) -> None:
        placeholder = await defer_public(interaction)  # before the database read: the clock runs
        source = await self._source(interaction, job_id)
        if source is None:
            return
        try:
            template, raw, image_ref = self._source_request(source)
        except RequestInvalid as exc:  # the server no longer offers that kind of video
            await reply_error(interaction, describe(exc, interaction.locale) or str(exc))
            return
        if new_seed:
            raw["seed"] = None  # drawn afresh by VideoRequest.build
        await self._create(interaction, template, raw, placeholder, image_ref=image_ref)

    async def _source(self, interaction: discord.Interaction, job_id: int) -> JobRecord | None:
        """The job a button or form names; None (the member told) when it no longer exists."""
        source = await self.services.reads.job(job_id)
        if source is None:
            await reply_error(interaction, text.JOB_UNKNOWN.render(interaction.locale, job_id=job_id))
        return source

    def _source_request(self, source: JobRecord) -> tuple[Template, dict[str, Any], str | None]:
        """The template to run the source job's request again (its own when still configured
        and of the same kind), the raw values of the params that template takes, and the
        source's kept start picture. Raises RequestInvalid when no configured template is of
        the kind the source needs (a picture job with no image-to-video template left)."""
        image_ref = image_ref_of(source)
        template = pick_template(self.services.templates, source.template, image=image_ref is not None)
        return template, {name: source.params.get(name) for name in PARAMS if template.supports(name)}, image_ref

    # -- remix ------------------------------------------------------------------------------

    async def _open_remix(self, interaction: discord.Interaction, job_id: int) -> None:
        """The Remix form for `job_id`. A form must be the first answer, so nothing can be
        deferred: one read of the job comes before it, well inside the 3 seconds."""
        source = await self._source(interaction, job_id)
        if source is None:
            return
        refusal = not_editable(source, interaction.locale)
        if refusal is not None:
            await reply_error(interaction, refusal)
            return
        await interaction.response.send_modal(RemixForm(source, interaction.locale))

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A submitted Remix form (discord.py routes only the modals it keeps; it keeps none
        of ours)."""
        if interaction.type is not discord.InteractionType.modal_submit or interaction.data is None:
            return
        match = FORM_ID.fullmatch(str(interaction.data.get("custom_id", "")))
        if match is None:
            return
        job_id = int(match["job"])
        with job_context(job=job_id, guild=interaction.guild_id, user=interaction.user.id):
            try:
                await self._remix(interaction, job_id, RemixEntry.of(interaction.data))
            except Exception as exc:  # noqa: BLE001 - a submit must always get an answer
                await self._failed(interaction, exc)

    async def _remix(self, interaction: discord.Interaction, job_id: int, entry: RemixEntry) -> None:
        """Queue the source job again with the member's edits: checked, then deferred."""
        source = await self._source(interaction, job_id)
        if source is None:
            return
        try:
            template, raw, image_ref = self._source_request(source)
        except RequestInvalid as exc:
            await reply_error(interaction, describe(exc, interaction.locale) or str(exc))
            return
        raw.update(entry.raw())
        # Every other stored param goes along as it is; the picture is checked again as image_ref.
        carried = {name: value for name, value in source.params.items()
                   if name not in PARAMS and name != START_IMAGE_PARAM}
        log.info("remix of job %s", job_id)
        await self._create(interaction, template, raw, None, carried=carried, image_ref=image_ref)
