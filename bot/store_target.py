"""Where the store lives: `WANBOT_DB` read as a SQLite file or a PostgreSQL URL.

A path, or `sqlite:///path`, is SQLite; `postgresql://` (or `postgres://`) is PostgreSQL. The URL
may carry a password: a `StoreTarget` never shows it (`str`, `repr` and `display` drop the user
info and the query), and `secrets` lists it for the log redaction. Part of the settings, so it
imports nothing of `storage` (`wanbot generate` reads settings and needs no database);
`location` is what `storage.open_store` takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from bot.urls import redacted_url

__all__ = ["Engine", "StoreTarget", "parse_target"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite://"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class Engine(StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True)
class StoreTarget:
    """A parsed `WANBOT_DB`. `path` is set for SQLite, `dsn` (with its password) for PostgreSQL."""

    engine: Engine
    path: Path | None = None
    dsn: str | None = field(default=None, repr=False)

    @property
    def display(self) -> str:
        """What may be shown anywhere: the file, or the URL without user info and query."""
        if self.engine is Engine.SQLITE:
            return str(self.path)
        return redacted_url(self.dsn or "")

    @property
    def secrets(self) -> list[str]:
        """The password in the URL (user info or `?password=`), for the log redaction."""
        if self.dsn is None:
            return []
        parts = urlsplit(self.dsn)
        found = [unquote(parts.password)] if parts.password else []
        found += parse_qs(parts.query).get("password", [])
        if parts.password:
            found.append(parts.password)  # as written, percent-encoded
        return [secret for secret in dict.fromkeys(found) if secret]

    @property
    def location(self) -> str | Path:
        """For `storage.open_store`: the file, or the URL (password included)."""
        location = self.path if self.engine is Engine.SQLITE else self.dsn
        assert location is not None
        return location

    def __str__(self) -> str:
        return self.display

    def __repr__(self) -> str:
        return f"StoreTarget({self.engine.value}, {self.display!r})"


def parse_target(value: str | Path) -> StoreTarget:
    """Read `WANBOT_DB`. Raises ValueError, naming the URL without its password, when it is
    neither a path nor a usable `sqlite://` or `postgresql://` URL."""
    if isinstance(value, Path):
        return StoreTarget(Engine.SQLITE, path=value)
    text = value.strip()
    if not text:
        raise ValueError("is empty: give a SQLite file or a postgresql:// URL")
    if text.startswith(_POSTGRES_SCHEMES):
        return StoreTarget(Engine.POSTGRES, dsn=_checked_postgres(text))
    if text.startswith(_SQLITE_SCHEME):
        return StoreTarget(Engine.SQLITE, path=_sqlite_path(text))
    if _SCHEME.match(text):
        raise ValueError(f"{redacted_url(text)!r} is neither a file path nor a postgresql:// or sqlite:/// URL")
    return StoreTarget(Engine.SQLITE, path=Path(text))


def _sqlite_path(text: str) -> Path:
    # sqlite:///relative/file.db and sqlite:////absolute/file.db, as SQLAlchemy writes them.
    rest = text[len(_SQLITE_SCHEME):]
    if not rest.startswith("/") or not rest[1:].strip():
        raise ValueError(f"{text!r} names no file (write sqlite:///data/wanbot.db or sqlite:////abs/path.db)")
    return Path(rest[1:])


def _checked_postgres(text: str) -> str:
    shown = redacted_url(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown!r} has a port that is not a number from 1 to 65535") from None
    if port == 0:
        raise ValueError(f"{shown!r} has a port that is not a number from 1 to 65535")
    host = parts.hostname or parse_qs(parts.query).get("host", [""])[0]
    if not host:
        raise ValueError(f"{shown!r} has no host (write postgresql://user:password@host/database)")
    if "/" in parts.path.strip("/"):
        raise ValueError(f"{shown!r} has a path that is not a database name")
    return text
