"""`wanbot run`: start the Discord bot."""

from __future__ import annotations

import argparse
import sys

from bot.settings import load_settings

__all__ = ["run_command"]

NO_TOKEN = """wanbot: DISCORD_TOKEN is not set.
  1. Open https://discord.com/developers/applications and create an application (New Application).
  2. Bot → Reset Token → copy it; put DISCORD_TOKEN=<token> in .env (or the environment).
  3. OAuth2 → URL Generator: scopes `bot` and `applications.commands` → open the URL to invite it.
  Then run `make run` again. Check your ComfyUI servers first with `wanbot check`."""


def run_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.runner import run_bot  # imported late: discord is only needed for `run`

    return run_bot(settings)
