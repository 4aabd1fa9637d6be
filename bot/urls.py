"""Backend URLs as they may be shown outside the process (health bodies, metric labels).

An operator can write credentials into a URL (`http://user:pass@gpu:8188`) or a proxy token into
its query (`?token=...`); neither may leave the process through /healthz or /metrics, which are
often scraped by people and systems that must not hold those secrets.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["display_url"]


def display_url(url: str) -> str:
    """`url` without user info, query or fragment: `http://u:p@gpu:8188/x?token=t` → `http://gpu:8188/x`.

    A string that is not a URL with a host (a plain backend name such as `gpu1`) is returned as is.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:  # a malformed port or bracket: show nothing that could hide a secret
        return "<invalid url>"
    if not parts.scheme or not host:
        return url
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets that the netloc needs
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
