"""The `wanbot` command: `run` (the Discord bot), `check` (can the backends run the workflow?)
and `generate` (one clip from the terminal, no Discord).

This is the CLI's edge: every expected failure is caught here once and printed as one plain
line; exit codes are 0 ok, 1 the job or a backend failed, 2 bad configuration or input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot import __version__
from bot.settings import SettingsError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wanbot", description="Wan2.1 text-to-video on ComfyUI, from Discord.")
    parser.add_argument("--version", action="version", version=f"wanbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="start the Discord bot")

    check = sub.add_parser("check", help="tell whether every ComfyUI backend can run the workflow")
    check.add_argument("--workflow", help="built-in template name or path to a template file")
    check.add_argument("--comfyui", action="append", metavar="URL", help="backend URL (repeatable)")

    # Its own --help: the ranges it shows are the template's, known only once settings are read.
    gen = sub.add_parser("generate", help="render one clip from the terminal", add_help=False)
    from bot.cli.options import add_generate_options

    add_generate_options(gen)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            from bot.cli.run import run_command

            return run_command(args)
        if args.command == "check":
            from bot.cli.check import check_command

            return asyncio.run(check_command(args))
        from bot.cli.generate import generate_command

        return asyncio.run(generate_command(args))
    except SettingsError as exc:
        for line in exc.lines:
            print(f"wanbot: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("wanbot: interrupted", file=sys.stderr)
        return 130
