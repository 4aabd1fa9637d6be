"""How the queue and admin commands answer: ephemerally, pinging nobody, in the caller's language.

`answer` sends a command's result; `refuse` a refusal the member can act on, through
`cogs._errors.reply_error` (the one place that sends error text). Exceptions are not handled
here: the tree-wide hook `cogs._errors.on_app_command_error` explains the expected ones and
logs the rest. Shared by the queue and admin features, which answer the same way.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import Message
from cogs._errors import NO_MENTIONS, reply_error

__all__ = ["answer", "refuse"]


async def answer(interaction: discord.Interaction, text: str | None = None, *,
                 embed: discord.Embed | None = None, view: discord.ui.View | None = None) -> None:
    """The command's result, to the caller only; replaces the placeholder after a defer."""
    views: dict[str, Any] = {} if view is None else {"view": view}
    if interaction.response.is_done():
        await interaction.edit_original_response(content=text, embed=embed, allowed_mentions=NO_MENTIONS, **views)
    elif embed is None:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS, **views)
    else:
        await interaction.response.send_message(text, embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS,
                                                **views)


async def refuse(interaction: discord.Interaction, message: Message, **values: object) -> None:
    """A refusal in the caller's language."""
    await reply_error(interaction, message.render(interaction.locale, **values))
