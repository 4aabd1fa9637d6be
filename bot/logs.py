"""Structured logs: one line per event, key=value (default) or JSON, with the job's context.

`job_context(job_id=..., guild=..., user=...)` binds ids for everything logged inside it
(contextvars, so concurrent jobs never mix). `install(...)` registers every secret the process
holds; a filter replaces any of them in any record, so a token cannot reach a log line even
through an exception message or a URL.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

__all__ = ["install", "job_context", "current_context", "Redactor"]

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("wanbot_log_context", default={})

# Discord interaction tokens are long opaque strings that pass through job code; they are
# registered per interaction with `Redactor.add`.
_MIN_SECRET = 6


@contextlib.contextmanager
def job_context(**fields: Any) -> Iterator[None]:
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


class Redactor(logging.Filter):
    """Replaces every registered secret in a record's message, args and exception text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= _MIN_SECRET:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class _KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            **getattr(record, "wanbot_ctx", {}),
            "msg": record.getMessage(),
        }
        line = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        if record.exc_text or record.exc_info:
            exc = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
            line += " exc=" + json.dumps(exc)
        return line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            **getattr(record, "wanbot_ctx", {}),
            "msg": record.getMessage(),
        }
        if record.exc_text or record.exc_info:
            payload["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(payload, ensure_ascii=False, default=str)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.wanbot_ctx = _context.get()
        return True


def install(*, level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (),
            stream: TextIO | None = None) -> Redactor:
    """Configure the root logger once for the process; returns the redactor to add secrets to."""
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _KeyValueFormatter())
    # Filters on the handler see records from every logger, including discord.py's and aiohttp's.
    handler.addFilter(_ContextFilter())
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("discord.gateway").setLevel(max(logging.getLevelName(level), logging.INFO))
    return redactor
