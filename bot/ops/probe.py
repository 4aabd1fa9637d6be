"""`python -m bot.ops.probe`: the container HEALTHCHECK, a client for our own /healthz.

Owns nothing but the probe. It uses only urllib because the slim image has no curl, and it
reads WANBOT_HTTP_HOST/WANBOT_HTTP_PORT through the same settings as the bot (environment and
`.env`), so changing the port does not silently break the health check. It prints one line —
"ok" or the server's reasons — which `docker inspect` shows under State.Health.Log.
Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from bot.settings import SettingsError, load_settings

__all__ = ["local_url", "main", "probe"]

EXIT_HEALTHY, EXIT_UNHEALTHY = 0, 1

# The probe runs next to the bot, so a wildcard bind is reached through loopback.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def local_url(host: str, port: int) -> str:
    """Where a process on this host reaches a server bound to `host:port`."""
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


# An HTTP(S)_PROXY set for the bot's outbound traffic must not capture a loopback probe.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, timeout: float = 4.0) -> tuple[bool, str]:
    """GET `url`; return (healthy, one line for the operator)."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.status == 200, "ok"
    except urllib.error.HTTPError as exc:
        return False, _reasons(exc.read()) or f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:  # refused, timeout, bad URL: the server is not serving
        return False, f"{url} not answering: {exc}"


def _reasons(body: bytes) -> str:
    try:
        reasons = json.loads(body).get("reasons") or []
    except (ValueError, AttributeError):
        return ""
    return "; ".join(str(reason) for reason in reasons)


def _configured_url() -> str | None:
    """The URL from settings, or None when the server is turned off (port 0)."""
    settings = load_settings()
    if settings.http_port == 0:
        return None
    return local_url(settings.http_host, settings.http_port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.probe", description="Probe wanbot's /healthz.")
    parser.add_argument("--url", help="probe this URL instead of the one in the settings")
    parser.add_argument("--timeout", type=float, default=4.0)
    args = parser.parse_args(argv)
    try:
        url = args.url or _configured_url()
    except SettingsError as exc:  # the bot cannot be running with these settings either
        print("settings unusable: " + "; ".join(exc.lines))
        return EXIT_UNHEALTHY
    if url is None:
        # Nothing to ask. Reporting unhealthy would get a working bot restarted by autoheal tools.
        print("health server disabled (WANBOT_HTTP_PORT=0); not checked")
        return EXIT_HEALTHY
    healthy, line = probe(url, args.timeout)
    print(line)
    return EXIT_HEALTHY if healthy else EXIT_UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
