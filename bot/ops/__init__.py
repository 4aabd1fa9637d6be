"""Operations: what an operator and their tooling see of a running bot.

`metrics` owns the Prometheus metrics (a typed `Metrics` facade on its own registry), `health`
the aiohttp server for /healthz and /metrics, and `probe` the container HEALTHCHECK client. No
Discord import and no dispatcher import: the bot's wiring hands in a `HealthSources`.
"""

from bot.ops.health import (
    Health,
    HealthServer,
    HealthSources,
    RefreshesMetrics,
    assess,
    build_health_server,
)
from bot.ops.metrics import Metrics

__all__ = [
    "Health",
    "HealthServer",
    "HealthSources",
    "Metrics",
    "RefreshesMetrics",
    "assess",
    "build_health_server",
]
