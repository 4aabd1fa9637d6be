"""`wanbot db migrate --from <SQLite file> --to <postgresql:// URL> [--replace]`: move a
community's data to PostgreSQL, then print the row counts of both sides, table by table.

Exit 0 only when every table matches; 1 when the copy failed or a count differs; 2 for a bad
argument or a target that already holds data (without --replace). Stop the bot first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.store_target import Engine, StoreTarget, parse_target

if TYPE_CHECKING:
    from storage.transfer import TableCount

__all__ = ["add_db_parser", "db_command"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database maintenance")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    migrate = actions.add_parser("migrate", help="copy a SQLite database into PostgreSQL (stop the bot first)")
    migrate.add_argument("--from", dest="source", required=True, metavar="SQLITE",
                         help="the SQLite file (or sqlite:///file) to copy from")
    migrate.add_argument("--to", dest="target", required=True, metavar="URL",
                         help="postgresql://user:password@host/database to copy into")
    migrate.add_argument("--replace", action="store_true",
                         help="empty the target first if it already holds wanbot data")


async def db_command(args: argparse.Namespace) -> int:
    try:
        source, target = _sides(args.source, args.target)
    except ValueError as exc:
        print(f"wanbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from storage import Database, StoreError
    from storage.postgres import PostgresStore
    from storage.transfer import TargetNotEmpty, copy_sqlite_to_postgres, count_tables

    assert source.path is not None and target.dsn is not None
    if not source.path.is_file():
        print(f"wanbot: --from: {source.path} is not a file", file=sys.stderr)
        return EXIT_USAGE
    try:
        async with await Database.open(source.path) as sqlite, await PostgresStore.open(target.dsn) as postgres:
            try:
                await copy_sqlite_to_postgres(sqlite, postgres, replace=args.replace)
            except TargetNotEmpty as exc:
                print(f"wanbot: --to: {target}: {exc}; give --replace to empty it first", file=sys.stderr)
                return EXIT_USAGE
            counts = await count_tables(sqlite, postgres)
    except (StoreError, OSError) as exc:
        print(f"wanbot: cannot migrate {source} to {target}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _print_counts(counts, source, target)
    return EXIT_OK if all(count.matches for count in counts) else EXIT_FAILED


def _sides(source: str, target: str) -> tuple[StoreTarget, StoreTarget]:
    try:
        parsed_source = parse_target(source)
    except ValueError as exc:
        raise ValueError(f"--from: {exc}") from None
    try:
        parsed_target = parse_target(target)
    except ValueError as exc:
        raise ValueError(f"--to: {exc}") from None
    if parsed_source.engine is not Engine.SQLITE:
        raise ValueError(f"--from: {parsed_source} is not a SQLite file")
    if parsed_target.engine is not Engine.POSTGRES:
        raise ValueError(f"--to: {parsed_target} is not a postgresql:// URL")
    return parsed_source, parsed_target


def _print_counts(counts: Sequence[TableCount], source: StoreTarget, target: StoreTarget) -> None:
    print(f"copied {source} -> {target}")
    width = max(len(count.table) for count in counts)
    print(f"{'table'.ljust(width)}  {'sqlite':>8}  {'postgres':>8}")
    for count in counts:
        mark = "ok" if count.matches else "MISMATCH"
        print(f"{count.table.ljust(width)}  {count.source:>8}  {count.target:>8}  {mark}")
