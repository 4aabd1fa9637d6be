"""The `wanbot` command: `run` (the Discord bot), `check` (can the backends run the workflows?),
`generate` (one clip from the terminal, no Discord), `templates` (what each template offers) and
`db migrate` (move the data from SQLite to PostgreSQL).

This is the CLI's edge: every expected failure is caught here once and printed as one plain
line; exit codes are 0 ok, 1 the job or a backend failed, 2 bad configuration or input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli.db import add_db_parser
from bot.cli.options import add_generate_options
from bot.settings import SettingProblem, SettingsError
from bot.workflows.template import TemplateError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# The command-line flag that sets a setting, and an example of one value for it: a bad value
# given on the command line is reported under the flag the operator typed, not a variable.
_FLAGS: dict[str, tuple[str, str]] = {
    "comfyui_urls": ("--comfyui", "http://127.0.0.1:8188"),
    "workflow": ("--workflow", "wan-native"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wanbot", description="Wan2.1 text-to-video on ComfyUI, from Discord.")
    parser.add_argument("--version", action="version", version=f"wanbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="start the Discord bot")

    check = sub.add_parser("check", help="tell whether every ComfyUI backend can run every configured workflow")
    check.add_argument("--workflow", help="built-in template name or template file (comma-separated for several); "
                                          "default: WANBOT_WORKFLOW")
    check.add_argument("--comfyui", action="append", metavar="URL", help="backend URL (repeatable)")

    templates = sub.add_parser("templates", help="list the built-in and configured workflow templates")
    templates.add_argument("--json", action="store_true", help="print them as one JSON document")

    add_db_parser(sub)

    # Its own --help: the ranges it shows are the template's, known only once settings are read.
    gen = sub.add_parser("generate", help="render one clip from the terminal", add_help=False)
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
        if args.command == "db":
            from bot.cli.db import db_command

            return asyncio.run(db_command(args))
        if args.command == "templates":
            from bot.cli.templates import templates_command

            return templates_command(args)
        from bot.cli.generate import generate_command

        return asyncio.run(generate_command(args))
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"wanbot: {_as_typed(problem)}", file=sys.stderr)
        return EXIT_USAGE
    except TemplateError as exc:  # WANBOT_WORKFLOW or --workflow names a broken template
        for line in exc.problems:
            print(f"wanbot: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("wanbot: interrupted", file=sys.stderr)
        return 130


def _as_typed(problem: SettingProblem) -> str:
    """The problem under the name the operator used: the flag when it came from one."""
    if problem.from_caller and problem.field in _FLAGS:
        flag, example = _FLAGS[problem.field]
        return problem.line(flag, example)
    return problem.line()
