"""Backend URLs: whether one is usable at all, and how it may be shown outside the process.

An operator can write credentials into a URL (`http://user:pass@gpu:8188`) or a proxy token into
its query (`?token=...`); neither may leave the process through /healthz, /metrics or an error
message, which are often seen by people and systems that must not hold those secrets.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["display_url", "redacted_url", "url_problem"]


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


def url_problem(url: str) -> str | None:
    """Why `url` cannot name a ComfyUI server (a phrase to follow the URL), or None when it can."""
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        # urlsplit says "Port out of range 0-65535" or names a bracket; the port is the usual slip.
        return "has a port that is not a number from 1 to 65535" if _has_port(url) else "is not a valid URL"
    if not host:
        return "has no host name"
    if port == 0:
        return "has a port that is not a number from 1 to 65535"
    return None


def _has_port(url: str) -> bool:
    host_port = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    if "[" in host_port:  # an IPv6 literal: the port, if any, follows the closing bracket
        return "]" in host_port and ":" in host_port.rsplit("]", 1)[1]
    return ":" in host_port


def redacted_url(text: str) -> str:
    """`text` without user info, query or fragment, by plain string rules: unlike `display_url`
    it keeps what a broken URL looks like (a bad port), so an error can show the mistake."""
    without_user = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@", r"\1", text)
    return re.split(r"[?#]", without_user, maxsplit=1)[0]
