"""What a PromQL expression reads, and what wanbot's /metrics offers, for the tests that keep the
Grafana dashboard and the KEDA query true to bot/ops/metrics.py.

`selectors(expr)` lists the metric names an expression selects and the label names it uses (in
matchers and in `by`/`without`/`on`/`ignoring` lists); `exported()` scrapes a real `/metrics`
(the health server serving a `Metrics` on which every kind of event happened once, so every
labelled series exists) and returns each series name with its labels, histogram suffixes
(`_bucket`, `_sum`, `_count`) and counter suffixes (`_total`) included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aiohttp

from bot.ops.health import HealthServer
from bot.ops.metrics import Metrics

__all__ = ["TARGET_LABELS", "exported", "selectors"]

# Added by Prometheus to every series it scrapes, not by wanbot.
TARGET_LABELS = frozenset({"instance", "job"})
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
                       "unless", "atan2", "inf", "nan"})
_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_MATCHERS = re.compile(r"\{([^}]*)\}")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_NAME = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")


def selectors(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) that `expr` uses."""
    text = _VARIABLE.sub("1m", expr)
    labels: set[str] = set()
    for body in _MATCHERS.findall(_STRING.sub('""', text)):
        labels |= {part.split("=")[0].split("!")[0].strip() for part in body.split(",") if part.strip()}
    for body in _LABEL_LIST.findall(text):
        labels |= {part.strip() for part in body.split(",") if part.strip()}
    stripped = _LABEL_LIST.sub(" ", _MATCHERS.sub(" ", _RANGE.sub(" ", _STRING.sub(" ", text))))
    names = {name for name in _NAME.findall(stripped) if name.lower() not in _KEYWORDS}
    return names, labels


async def exported() -> dict[str, set[str]]:
    """Every series name a real scrape of /metrics shows, with the label names it carries."""
    metrics = Metrics(job_states=["queued", "running"])
    metrics.set_backend("http://gpu1:8188", up=True, running=True)
    metrics.set_gateway(True)
    metrics.observe_durations(queued=3.0, running=60.0, delivering=4.0)
    metrics.job_finished("delivered")
    metrics.discord_error(50013)
    metrics.refused("rate_limited")
    metrics.refresh_failed()
    async with HealthServer("127.0.0.1", 0, _Healthy(), metrics) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
    series: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            name = name.split()[0]
            labels = set(re.findall(r'(\w+)="', rest)) if rest else set()
            series.setdefault(name, set()).update(labels)
    return series


class _Healthy:
    def gateway_connected(self) -> bool:
        return True

    def backends(self) -> Sequence[tuple[str, bool]]:
        return [("http://gpu1:8188", True)]
