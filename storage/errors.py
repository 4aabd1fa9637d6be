"""The store's errors that callers may catch, whichever engine is behind it."""

from __future__ import annotations

__all__ = ["StoreError", "StoreUnavailable", "SchemaTooNew"]


class StoreError(Exception):
    """Something the store could not do; the message never holds a password."""


class StoreUnavailable(StoreError):
    """The database cannot be reached now (connection refused or dropped, server restarting).
    Nothing was changed by the call that raised it; the store reconnects by itself (with
    backoff), so the same call may succeed a moment later."""


class SchemaTooNew(StoreError, RuntimeError):
    """The database was written by a newer wanbot; running older code on it could corrupt it."""
