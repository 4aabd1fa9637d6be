"""The buttons on status cards and videos, alive across restarts.

Every button is a `JobButton`: a `DynamicItem` whose `custom_id` is `wanbot:<action>:<job id>`,
registered once with `bot.add_dynamic_items`. Discord sends the custom_id back with every
click, so a click on a message posted by an earlier process is routed without any view state
in memory; views built here are made only of dynamic items, which discord.py does not keep
per message (a long-running bot would otherwise hold one view per card forever).

The `delete` custom_id is on everything a delivery posts (video or notice): it is the job
marker `VideoDelivery` looks for to avoid posting a job twice. `remix` opens the Remix form
(`_remix`); `/history` offers it too, one button per listed video (`remix_buttons`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol

import discord

from bot.jobs import JobRecord, JobState
from cogs.video import _messages as text

__all__ = [
    "COG_NAME",
    "Action",
    "ButtonHandler",
    "JobButton",
    "card_buttons",
    "custom_id",
    "remix_buttons",
    "result_buttons",
]

COG_NAME = "Video"
# Cancel goes once the video is being posted: a cancel then would race the post.
_CANCELLABLE = (JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING)
_TEMPLATE = re.compile(r"wanbot:(?P<action>cancel|reroll|again|delete|remix):(?P<job>[0-9]{1,19})")


class Action(StrEnum):
    CANCEL = "cancel"
    REROLL = "reroll"  # same prompt and settings, new seed
    AGAIN = "again"  # exactly the same settings, seed included
    DELETE = "delete"  # the posted video (owner or moderator)
    REMIX = "remix"  # the same settings with an edited prompt (a form)


class ButtonHandler(Protocol):
    """What the video cog does with a click."""

    async def on_button(self, interaction: discord.Interaction, action: Action, job_id: int) -> None: ...


def custom_id(action: Action, job_id: int) -> str:
    return f"wanbot:{action.value}:{job_id}"


_STYLE = {
    Action.CANCEL: discord.ButtonStyle.secondary,
    Action.REROLL: discord.ButtonStyle.primary,
    Action.AGAIN: discord.ButtonStyle.secondary,
    Action.DELETE: discord.ButtonStyle.danger,
    Action.REMIX: discord.ButtonStyle.secondary,
}
_EMOJI = {Action.CANCEL: "✖️", Action.REROLL: "🎲", Action.AGAIN: "🔁", Action.DELETE: "🗑️", Action.REMIX: "✏️"}
_LABEL = {
    Action.CANCEL: text.BUTTON_CANCEL,
    Action.REROLL: text.BUTTON_REROLL,
    Action.AGAIN: text.BUTTON_AGAIN,
    Action.DELETE: text.BUTTON_DELETE,
    Action.REMIX: text.BUTTON_REMIX,
}


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=_TEMPLATE):
    """One action on one job; labelled in the language of whoever the message is for
    (`label` replaces the action's own label)."""

    def __init__(self, action: Action, job_id: int, locale: object | None = None, *, label: str | None = None) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label or _LABEL[action].render(locale), style=_STYLE[action], emoji=_EMOJI[action],
            custom_id=custom_id(action, job_id),
        )
        super().__init__(button)
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        return cls(Action(match["action"]), int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: ButtonHandler | None = interaction.client.get_cog(COG_NAME)  # type: ignore[assignment]
        if handler is not None:  # None only while the extension reloads
            await handler.on_button(interaction, self.action, self.job_id)


def _view(*buttons: JobButton) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view


def card_buttons(job: JobRecord) -> discord.ui.View | None:
    """Cancel, while cancelling is still possible (not once the video is being posted)."""
    if job.state not in _CANCELLABLE:
        return None
    return _view(JobButton(Action.CANCEL, job.id, job.locale))


def result_buttons(job: JobRecord, *, in_dm: bool = False) -> discord.ui.View:
    """Reroll, Remix, Same settings, Delete; only Delete in a DM (a new job needs the server)."""
    if in_dm:
        return _view(JobButton(Action.DELETE, job.id, job.locale))
    actions = (Action.REROLL, Action.REMIX, Action.AGAIN, Action.DELETE)
    return _view(*(JobButton(action, job.id, job.locale) for action in actions))


def remix_buttons(jobs: Sequence[JobRecord], locale: object | None) -> discord.ui.View | None:
    """"Remix #N" for each of `jobs` (at most 25: five rows of five), for the member reading
    in `locale`; None when there is none."""
    if not jobs:
        return None
    return _view(*(JobButton(Action.REMIX, job.id, locale, label=text.BUTTON_REMIX_JOB.render(locale, job_id=job.id))
                   for job in jobs[:25]))
