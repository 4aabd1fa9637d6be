"""The Remix form: a job's prompt, negative prompt and an optional seed, to edit and queue again.

`RemixForm` is the modal (`discord.ui.Modal`) a Remix button opens, pre-filled from the source
job, in the member's language. `RemixEntry.of(data)` reads what the member sent back.

The form holds no state in the process: its custom_id (`wanbot:remix-form:<job id>`) names the
source job, and the cog answers every submit from that and the submitted values (a listener on
MODAL_SUBMIT), so a form opened before a restart is still answered after it. discord.py would
otherwise keep each opened modal in memory until it is submitted — forever for a form the
member closed — and drop a submit it does not know; `InteractionResponse.send_modal` keeps only
a modal that is not finished, so the form is stopped as it is built.

Discord's limits: a title and labels of at most 45 characters, descriptions and placeholders
of at most 100, a pre-filled value of at most 4000 (`TEXT_MAX`; a longer source text cannot be
offered for editing). The inputs allow Discord's maximum; the template's own limits are
checked on submit by `VideoRequest.build`, which says what is wrong in the member's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import discord

from bot.jobs import JobRecord
from bot.workflows.request import FIELD_NAMES
from cogs.video import _messages as text

__all__ = ["FORM_ID", "TEXT_MAX", "RemixEntry", "RemixForm", "form_id", "not_editable"]

FORM_ID: Final = re.compile(r"wanbot:remix-form:(?P<job>[0-9]{1,19})")
TEXT_MAX: Final = 4000  # Discord's cap on a text input's value
# A seed longer than a 64-bit number is never a seed; up to that, a wrong one is explained.
_SEED_MAX_LENGTH: Final = 20
_PROMPT, _NEGATIVE, _SEED = "wanbot:remix:prompt", "wanbot:remix:negative", "wanbot:remix:seed"
_EDITABLE: Final = ("prompt", "negative_prompt")


def form_id(job_id: int) -> str:
    return f"wanbot:remix-form:{job_id}"


def not_editable(job: JobRecord, locale: object | None) -> str | None:
    """Why `job` cannot be offered in a form (a text longer than a form holds), in `locale`'s
    language; None when it can."""
    for name in _EDITABLE:
        length = len(str(job.params.get(name) or ""))
        if length > TEXT_MAX:
            return text.REMIX_TOO_LONG.render(locale, job_id=job.id, field=FIELD_NAMES[name].render(locale),
                                              length=length, max=TEXT_MAX)
    return None


class RemixForm(discord.ui.Modal):
    """The form for remixing `job`, labelled in `locale`'s language. Build it inside the event
    loop (in an interaction callback): stopping it needs the loop."""

    def __init__(self, job: JobRecord, locale: object | None) -> None:
        super().__init__(title=text.REMIX_TITLE.render(locale, job_id=job.id), custom_id=form_id(job.id),
                         timeout=None)
        seed = job.params.get("seed")
        fields = (
            (text.REMIX_PROMPT, text.REMIX_PROMPT_HINT, discord.ui.TextInput(
                custom_id=_PROMPT, style=discord.TextStyle.paragraph, default=str(job.params.get("prompt") or ""),
                max_length=TEXT_MAX)),
            (text.REMIX_NEGATIVE, text.REMIX_NEGATIVE_HINT, discord.ui.TextInput(
                custom_id=_NEGATIVE, style=discord.TextStyle.paragraph, required=False,
                default=str(job.params.get("negative_prompt") or ""), max_length=TEXT_MAX)),
            (text.REMIX_SEED, text.REMIX_SEED_HINT, discord.ui.TextInput(
                custom_id=_SEED, required=False, max_length=_SEED_MAX_LENGTH,
                placeholder=text.REMIX_SEED_EMPTY.render(locale, seed=seed) if seed is not None else None)),
        )
        for label, hint, field in fields:
            self.add_item(discord.ui.Label(text=label.render(locale), description=hint.render(locale),
                                           component=field))
        self.stop()  # answered from its custom_id by the cog, never from memory (module docstring)


@dataclass(frozen=True)
class RemixEntry:
    """What the member submitted: the texts as typed (a seed stays text until it is checked)."""

    prompt: str
    negative_prompt: str
    seed: str

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> RemixEntry:
        """From MODAL_SUBMIT `data` (an input missing from it counts as empty)."""
        values = dict(_values(data.get("components") or []))
        return cls(values.get(_PROMPT, ""), values.get(_NEGATIVE, ""), values.get(_SEED, ""))

    def raw(self) -> dict[str, Any]:
        """The edited values for `VideoRequest.build`: an empty negative prompt or seed means
        "not given" (the template's negative prompt; a new random seed)."""
        return {"prompt": self.prompt, "negative_prompt": self.negative_prompt.strip() or None,
                "seed": self.seed.strip() or None}


def _values(components: list[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """(custom_id, value) of every text input, inside action rows (type 1) or labels (type 18)."""
    for component in components:
        if component.get("type") == 18:
            yield from _values([component.get("component") or {}])
        elif component.get("type") == 1:
            yield from _values(component.get("components") or [])
        elif "custom_id" in component and isinstance(component.get("value"), str):
            yield component["custom_id"], component["value"]
