"""Prometheus metrics: what the bot counts and measures, and their text rendering for /metrics.

Owns every metric name, label and bucket. `Metrics` is the only way the rest of the bot touches
them, through small typed methods, so call sites never hold a prometheus-client object and a
name can change in one place. Each `Metrics` has its own `CollectorRegistry` rather than the
library's global one: two bots in one process (or two tests) would otherwise collide on
"Duplicated timeseries" and see each other's numbers. No Discord import.

Metric names (all prefixed `wanbot_`):

| name | type | labels |
| --- | --- | --- |
| `jobs` | gauge | `state` (queued, submitted, running, ...) |
| `queue_depth` | gauge | |
| `gateway_connected` | gauge | |
| `backend_up` | gauge | `backend` |
| `backend_running` | gauge | `backend` (1 while it renders one of our jobs) |
| `job_queued_seconds`, `job_running_seconds`, `job_delivering_seconds` | histogram | |
| `jobs_finished_total` | counter | `outcome` (delivered, failed, cancelled) |
| `discord_errors_total` | counter | `code` |
| `refusals_total` | counter | `reason` |
| `metrics_refresh_failures_total` | counter | |
| `preview_delay_seconds` | histogram | (a live preview frame's arrival → the card edit that shows it, done) |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.urls import display_url

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "NAMESPACE", "PREVIEW_BUCKETS", "Metrics"]

NAMESPACE = "wanbot"

# The classic Prometheus text format, understood by every Prometheus and agent. Newer
# prometheus-client releases label `generate_latest` output "version=1.0.0", yet their own HTTP
# server still answers 0.0.4 to a scraper that does not ask for more; our names are plain ASCII,
# so the bytes are the same either way.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A Wan2.1 clip takes from tens of seconds (1.3B, few frames, big GPU) to tens of minutes, and a
# queue can hold a job for an hour; delivery (download + re-encode + upload) takes seconds to
# minutes. The default prometheus buckets stop at 10 s, which would put every job in +Inf.
DURATION_BUCKETS: tuple[float, ...] = (
    1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600,
)

PREVIEW_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)


class Metrics:
    """The bot's metrics on a registry of their own.

    `job_states` pre-creates the `wanbot_jobs{state=...}` series at 0 so dashboards and alerts
    see every state from the first scrape, not only the states that happened to occur.
    """

    def __init__(self, *, job_states: Iterable[str] = (), registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._job_states: set[str] = set()
        self._declare_gauges()
        self._declare_histograms()
        self._declare_counters()
        self.set_jobs({state: 0 for state in job_states}, queue_depth=0)

    def _declare_gauges(self) -> None:
        reg = self.registry
        self._jobs = Gauge("jobs", "Jobs in the store by state.", ["state"], namespace=NAMESPACE, registry=reg)
        self._queue_depth = Gauge("queue_depth", "Jobs waiting for a backend.", namespace=NAMESPACE, registry=reg)
        self._gateway = Gauge(
            "gateway_connected", "1 while the Discord gateway is connected.", namespace=NAMESPACE, registry=reg
        )
        self._backend_up = Gauge(
            "backend_up", "1 while the ComfyUI backend answers.", ["backend"], namespace=NAMESPACE, registry=reg
        )
        self._backend_running = Gauge(
            "backend_running",
            "1 while the ComfyUI backend is rendering one of our jobs.",
            ["backend"],
            namespace=NAMESPACE,
            registry=reg,
        )

    def _declare_histograms(self) -> None:
        def histogram(phase: str, doc: str) -> Histogram:
            return Histogram(
                f"job_{phase}_seconds", doc, namespace=NAMESPACE, registry=self.registry, buckets=DURATION_BUCKETS
            )

        self._queued = histogram("queued", "Seconds a job waited before a backend took it.")
        self._running = histogram("running", "Seconds a backend spent rendering a job.")
        self._delivering = histogram("delivering", "Seconds from the rendered output to the posted message.")
        # The card throttle alone allows 2 s; more means the upload budget or Discord held it.
        self._preview_delay = Histogram(
            "preview_delay_seconds", "Seconds from a live preview frame's arrival to the card edit showing it.",
            namespace=NAMESPACE, registry=self.registry, buckets=PREVIEW_BUCKETS,
        )

    def _declare_counters(self) -> None:
        reg = self.registry
        self._finished = Counter(
            "jobs_finished", "Jobs that reached a final state.", ["outcome"], namespace=NAMESPACE, registry=reg
        )
        self._discord_errors = Counter(
            "discord_errors", "Errors returned by Discord, by code.", ["code"], namespace=NAMESPACE, registry=reg
        )
        self._refusals = Counter(
            "refusals", "Requests refused before queueing, by reason.", ["reason"], namespace=NAMESPACE, registry=reg
        )
        self._refresh_failures = Counter(
            "metrics_refresh_failures",
            "Scrapes where pulling current figures failed; gauges then show the last good values.",
            namespace=NAMESPACE,
            registry=reg,
        )

    # -- gauges: current state, set on change or pulled at scrape time --------------------------

    def set_jobs(self, by_state: Mapping[str, int], queue_depth: int) -> None:
        """Set the job count of every state; a state missing from `by_state` drops to 0.

        Zeroing instead of leaving the last value matters: a state that emptied (the last
        running job finished) would otherwise keep reporting its old count forever.
        """
        self._job_states.update(by_state)
        for state in self._job_states:
            self._jobs.labels(state=state).set(by_state.get(state, 0))
        self._queue_depth.set(queue_depth)

    def set_gateway(self, connected: bool) -> None:
        self._gateway.set(1 if connected else 0)

    def set_backend(self, name: str, up: bool, running: bool) -> None:
        """Record whether backend `name` answers and whether it renders one of our jobs.

        `name` is usually the URL; credentials and query strings are stripped from the label.
        """
        label = display_url(name)
        self._backend_up.labels(backend=label).set(1 if up else 0)
        self._backend_running.labels(backend=label).set(1 if running else 0)

    # -- histograms and counters: events, recorded as they happen ------------------------------

    def observe_durations(
        self, queued: float | None = None, running: float | None = None, delivering: float | None = None
    ) -> None:
        """Record the phases of one finished job, in seconds; `None` skips a phase the job never
        went through (a job cancelled while queued has no running time)."""
        for histogram, seconds in ((self._queued, queued), (self._running, running), (self._delivering, delivering)):
            if seconds is not None and seconds >= 0:
                histogram.observe(seconds)

    def preview_shown(self, seconds: float) -> None:
        """A card edit showed a live preview frame `seconds` after the frame arrived."""
        self._preview_delay.observe(seconds)

    def job_finished(self, outcome: str) -> None:
        """Count a job that reached a final state (`delivered`, `failed`, `cancelled`)."""
        self._finished.labels(outcome=outcome).inc()

    def discord_error(self, code: int | str) -> None:
        """Count an error from Discord: its JSON error code (50013) or HTTP status (429)."""
        self._discord_errors.labels(code=str(code)).inc()

    def refused(self, reason: str) -> None:
        """Count a request refused at admission (`rate_limited`, `queue_full`, ...)."""
        self._refusals.labels(reason=reason).inc()

    def refresh_failed(self) -> None:
        self._refresh_failures.inc()

    # -- exposition ----------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this registry and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE
