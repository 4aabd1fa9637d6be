"""The start-up steps that touch this machine or its database — the SQLite file or the
PostgreSQL server, the outputs folder, the health port — each turning a refusal into a
`StartupError` that names the setting at fault and what to do, instead of a traceback (or a
hang: an aiosqlite connection that failed half-way can leave a thread behind that keeps the
process alive). A PostgreSQL URL is only ever shown without its password.

The file-system checks run in a worker thread: they are quick, but nothing blocks the loop.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import uuid
from pathlib import Path

from bot.fatal import EXIT_FAILED, StartupError, reason
from bot.ops.health import HealthServer
from bot.store_target import StoreTarget
from storage import SchemaTooNew, Store, StoreError, StoreUnavailable, open_store

__all__ = ["check_outputs", "open_database", "serve_health"]

_DB = "WANBOT_DB"
_DATA = "WANBOT_DATA_DIR"


async def open_database(target: StoreTarget) -> Store:
    """Open (creating if needed) and migrate the database WANBOT_DB names."""
    if target.path is not None:
        await asyncio.to_thread(_check_database_file, target.path)
    try:
        return await open_store(target.location)
    except SchemaTooNew as exc:
        raise StartupError(_DB, f"{target}: {exc}", "run the newer wanbot, or restore a backup made "
                           "by this version") from exc
    except StoreUnavailable as exc:
        raise StartupError(_DB, str(exc), "check that the server is running and reachable from "
                           "here", EXIT_FAILED) from exc
    except StoreError as exc:
        raise StartupError(_DB, str(exc), "check the user, password and database name in "
                           "WANBOT_DB, and that the user may create tables there") from exc
    except (OSError, sqlite3.Error) as exc:
        raise StartupError(_DB, f"cannot open {target} ({reason(exc)})", "check the path, its "
                           "permissions and the free disk space") from exc


def _check_database_file(path: Path) -> None:
    """What sqlite would only call "unable to open database file", said plainly."""
    if path.is_dir():
        raise StartupError(_DB, f"{path} is a directory", f"point WANBOT_DB at a file, e.g. {path / 'wanbot.db'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(_DB, f"cannot create the folder {path.parent} ({reason(exc)})",
                           "point WANBOT_DB at a folder the bot may create and write") from exc
    try:
        probe = sqlite3.connect(path)
        try:
            probe.execute("PRAGMA schema_version")  # reads the header: "file is not a database"
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise StartupError(_DB, f"cannot open {path} as a SQLite database ({exc})",
                           "check its permissions, or point WANBOT_DB at wanbot's database or a new file") from exc


async def check_outputs(folder: Path) -> None:
    """Make sure finished videos can be written to `folder` (in WANBOT_DATA_DIR)."""
    await asyncio.to_thread(_check_writable, folder)


def _check_writable(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise StartupError(_DATA, f"the outputs folder {folder} is a file", "move that file away (the "
                           "folder sits in WANBOT_DATA_DIR, by default beside a SQLite WANBOT_DB), "
                           "or set WANBOT_DATA_DIR")
    probe = folder / f".write-test-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StartupError(_DATA, f"the outputs folder {folder} is not writable ({reason(exc)})",
                           "let the bot's user write there (it sits in WANBOT_DATA_DIR, by default beside "
                           "a SQLite WANBOT_DB), or set WANBOT_DATA_DIR") from exc


async def serve_health(server: HealthServer) -> None:
    """Start /healthz and /metrics on WANBOT_HTTP_HOST:WANBOT_HTTP_PORT."""
    try:
        await server.start()
    except OSError as exc:
        raise _bind_error(server, exc) from exc


def _bind_error(server: HealthServer, exc: OSError) -> StartupError:
    where = f"{server.host}:{server.port}"
    if exc.errno == errno.EADDRINUSE:
        return StartupError("WANBOT_HTTP_PORT", f"{where} is already in use by another program",
                            "stop it, or choose another WANBOT_HTTP_PORT (0 turns /healthz off)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StartupError("WANBOT_HTTP_PORT", f"not allowed to listen on {where} ({reason(exc)})",
                            "choose a port above 1023")
    return StartupError("WANBOT_HTTP_HOST", f"cannot listen on {where} ({reason(exc)})",
                        "use 127.0.0.1, 0.0.0.0 or an address of this machine")
