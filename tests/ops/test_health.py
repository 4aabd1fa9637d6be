"""/healthz and /metrics through a real aiohttp server on loopback and a real client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.ops import HealthServer, Metrics, build_health_server
from bot.urls import display_url
from bot.ops.health import GATEWAY_DOWN
from bot.ops.probe import local_url
from bot.ops.probe import main as probe_main
from bot.settings import load_settings

DISCORD_TOKEN = "MTIzNDU2Nzg5.fake-discord-token.abcdef"
COMFY_TOKEN = "comfy-secret-token-123"


@dataclass
class FakeSources:
    """What the bot's wiring would provide: the gateway flag and the backends' state."""

    connected: bool = True
    backend_list: list[tuple[str, bool]] = field(
        default_factory=lambda: [("http://a:8188", True), ("http://b:8188", False)]
    )

    def gateway_connected(self) -> bool:
        return self.connected

    def backends(self) -> Sequence[tuple[str, bool]]:
        return list(self.backend_list)


@dataclass
class RefreshingSources(FakeSources):
    """Sources that pull figures into the metrics at scrape time, as the store-backed wiring does."""

    metrics: Metrics | None = None
    refreshes: int = 0

    async def refresh_metrics(self) -> None:
        self.refreshes += 1
        assert self.metrics is not None
        self.metrics.set_jobs({"queued": self.refreshes, "running": 1}, queue_depth=self.refreshes)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(job_states=["queued", "submitted", "running", "fetched", "delivered", "failed", "cancelled"])


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources()


@pytest.fixture
async def server(sources: FakeSources, metrics: Metrics) -> AsyncIterator[HealthServer]:
    async with HealthServer("127.0.0.1", 0, sources, metrics) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, server: HealthServer, path: str) -> tuple[int, str, str]:
    async with http.get(server.url + path) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def get_json(http: aiohttp.ClientSession, server: HealthServer, path: str = "/healthz") -> tuple[int, dict]:
    async with http.get(server.url + path) as response:
        return response.status, await response.json()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page as {(name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# -- /healthz ------------------------------------------------------------------------------------


async def test_port_zero_binds_a_free_loopback_port(server: HealthServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


async def test_healthy_when_gateway_connected_and_one_backend_up(server, http) -> None:
    status, body = await get_json(http, server)
    assert status == 200
    assert body["status"] == "ok"
    assert body["gateway"] == "connected"
    assert body["backends"] == [{"url": "http://a:8188", "up": True}, {"url": "http://b:8188", "up": False}]
    assert "reasons" not in body


async def test_503_names_the_gateway_when_disconnected(server, http, sources) -> None:
    sources.connected = False
    status, body = await get_json(http, server)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["reasons"] == [GATEWAY_DOWN] == ["discord gateway not connected"]


async def test_503_names_every_backend_when_all_are_down(server, http, sources) -> None:
    sources.backend_list = [("http://a:8188", False), ("http://b:8188", False)]
    status, body = await get_json(http, server)
    assert status == 503
    assert body["reasons"] == ["no ComfyUI backend is up: http://a:8188 down, http://b:8188 down"]


async def test_503_gives_both_reasons_when_both_fail(server, http, sources) -> None:
    sources.connected = False
    sources.backend_list = []
    status, body = await get_json(http, server)
    assert status == 503
    assert body["reasons"] == [GATEWAY_DOWN, "no ComfyUI backend is up: none configured"]


async def test_livez_answers_while_the_process_serves_whatever_it_depends_on(server, http, sources) -> None:
    """Kubernetes' liveness probe: a restart cures a wedged process, not a GPU or Discord outage
    (restarting the bot then would only interrupt /video and the queue for nothing)."""
    sources.connected = False
    sources.backend_list = [("http://a:8188", False)]
    async with http.get(f"{server.url}/livez") as response:
        assert response.status == 200 and await response.json() == {"status": "alive"}
    status, _ = await get_json(http, server)
    assert status == 503


async def test_health_recovers_without_restart(server, http, sources) -> None:
    sources.connected = False
    assert (await get_json(http, server))[0] == 503
    sources.connected = True
    assert (await get_json(http, server))[0] == 200


async def test_a_failing_source_is_unhealthy_without_leaking_its_message(server, http, sources) -> None:
    def broken() -> bool:
        raise RuntimeError(f"cannot reach http://x:8188/?token={COMFY_TOKEN}")

    sources.gateway_connected = broken  # type: ignore[method-assign]
    status, text = (await get(http, server, "/healthz"))[::2]
    assert status == 503
    assert "health check failed: RuntimeError" in text
    assert COMFY_TOKEN not in text


# -- /metrics ------------------------------------------------------------------------------------


async def test_metrics_content_type_and_values_after_facade_calls(server, http, metrics) -> None:
    metrics.set_jobs({"queued": 3, "running": 1}, queue_depth=3)
    metrics.set_backend("http://a:8188", up=True, running=True)
    metrics.set_backend("http://b:8188", up=False, running=False)
    metrics.observe_durations(queued=12.0, running=95.0, delivering=4.0)
    metrics.observe_durations(queued=0.5)  # cancelled while queued: no running or delivering time
    metrics.job_finished("delivered")
    metrics.discord_error(50013)
    metrics.discord_error(50013)
    metrics.refused("rate_limited")

    status, content_type, text = await get(http, server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain") and "version=0.0.4" in content_type
    got = samples(text)
    assert got[("wanbot_jobs", (("state", "queued"),))] == 3
    assert got[("wanbot_jobs", (("state", "running"),))] == 1
    assert got[("wanbot_jobs", (("state", "failed"),))] == 0  # pre-declared states appear at 0
    assert got[("wanbot_queue_depth", ())] == 3
    assert got[("wanbot_gateway_connected", ())] == 1
    assert got[("wanbot_backend_up", (("backend", "http://a:8188"),))] == 1
    assert got[("wanbot_backend_up", (("backend", "http://b:8188"),))] == 0
    assert got[("wanbot_backend_running", (("backend", "http://a:8188"),))] == 1
    assert got[("wanbot_job_queued_seconds_count", ())] == 2
    assert got[("wanbot_job_running_seconds_count", ())] == 1
    assert got[("wanbot_job_running_seconds_bucket", (("le", "120.0"),))] == 1
    assert got[("wanbot_job_running_seconds_bucket", (("le", "60.0"),))] == 0
    assert got[("wanbot_job_delivering_seconds_sum", ())] == 4.0
    assert got[("wanbot_jobs_finished_total", (("outcome", "delivered"),))] == 1
    assert got[("wanbot_discord_errors_total", (("code", "50013"),))] == 2
    assert got[("wanbot_refusals_total", (("reason", "rate_limited"),))] == 1


async def test_a_state_that_empties_drops_to_zero(metrics) -> None:
    metrics.set_jobs({"running": 2, "custom": 1}, queue_depth=0)
    metrics.set_jobs({"queued": 1}, queue_depth=1)
    got = samples(metrics.render()[0].decode())
    assert got[("wanbot_jobs", (("state", "running"),))] == 0
    assert got[("wanbot_jobs", (("state", "custom"),))] == 0
    assert got[("wanbot_jobs", (("state", "queued"),))] == 1


async def test_refresh_metrics_runs_on_every_scrape(metrics, http) -> None:
    sources = RefreshingSources(metrics=metrics)
    async with HealthServer("127.0.0.1", 0, sources, metrics) as srv:
        await get(http, srv, "/metrics")
        text = (await get(http, srv, "/metrics"))[2]
        await get(http, srv, "/healthz")  # a health probe does not touch the store
    assert sources.refreshes == 2
    got = samples(text)
    assert got[("wanbot_jobs", (("state", "queued"),))] == 2
    assert got[("wanbot_queue_depth", ())] == 2


async def test_a_failing_or_hanging_refresh_still_serves_and_is_counted(metrics, http) -> None:
    class Hanging(FakeSources):
        async def refresh_metrics(self) -> None:
            await asyncio.sleep(3600)

    class Failing(FakeSources):
        async def refresh_metrics(self) -> None:
            raise OSError("database is locked")

    for sources in (Hanging(), Failing()):
        async with HealthServer("127.0.0.1", 0, sources, metrics, refresh_timeout=0.05) as srv:
            status, _, text = await get(http, srv, "/metrics")
        assert status == 200
        assert "wanbot_backend_up" in text or "wanbot_jobs" in text
    assert samples(text)[("wanbot_metrics_refresh_failures_total", ())] == 2


async def test_two_bots_in_one_process_keep_separate_metrics(http) -> None:
    first, second = Metrics(), Metrics()  # a shared global registry would raise "Duplicated timeseries"
    first.refused("queue_full")
    async with HealthServer("127.0.0.1", 0, FakeSources(), first) as one, HealthServer(
        "127.0.0.1", 0, FakeSources(), second
    ) as two:
        assert one.port != two.port
        assert 'reason="queue_full"' in (await get(http, one, "/metrics"))[2]
        assert 'reason="queue_full"' not in (await get(http, two, "/metrics"))[2]


# -- secrets ---------------------------------------------------------------------------------------


async def test_no_secret_reaches_any_response(metrics, http) -> None:
    secret_urls = [
        (f"http://user:{COMFY_TOKEN}@gpu1:8188", False),
        (f"https://gpu2:8443/comfy/?token={COMFY_TOKEN}", False),
    ]
    sources = FakeSources(connected=False, backend_list=secret_urls)
    for url, _ in secret_urls:
        metrics.set_backend(url, up=False, running=False)
    metrics.discord_error(401)
    async with HealthServer("127.0.0.1", 0, sources, metrics) as srv:
        pages = [await get(http, srv, "/healthz"), await get(http, srv, "/metrics")]
        sources.connected, sources.backend_list = True, [(url, True) for url, _ in secret_urls]
        pages.append(await get(http, srv, "/healthz"))
    for _, _, text in pages:
        assert COMFY_TOKEN not in text and DISCORD_TOKEN not in text and "user:" not in text
    assert "http://gpu1:8188" in pages[0][2] and "https://gpu2:8443/comfy" in pages[1][2]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8188", "http://127.0.0.1:8188"),
        ("http://u:p@gpu:8188/x/?token=t#frag", "http://gpu:8188/x"),
        ("http://[::1]:8188", "http://[::1]:8188"),
        ("gpu1", "gpu1"),
        ("http://gpu:notaport", "<invalid url>"),
    ],
)
def test_display_url_drops_credentials_and_query(url: str, shown: str) -> None:
    assert display_url(url) == shown


# -- lifecycle and settings ------------------------------------------------------------------------


async def test_stop_closes_the_port_and_is_idempotent(sources, metrics, http) -> None:
    srv = HealthServer("127.0.0.1", 0, sources, metrics)
    await srv.stop()  # before start: nothing to do
    await srv.start()
    with pytest.raises(RuntimeError):
        await srv.start()
    await srv.stop()
    await srv.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(http, srv, "/healthz")


async def test_a_taken_port_raises_oserror(server, sources, metrics) -> None:
    with pytest.raises(OSError):
        await HealthServer("127.0.0.1", server.port, sources, metrics).start()


def test_settings_choose_the_address_and_port_zero_disables(sources, metrics, monkeypatch) -> None:
    monkeypatch.delenv("WANBOT_HTTP_HOST", raising=False)
    monkeypatch.delenv("WANBOT_HTTP_PORT", raising=False)
    default = build_health_server(load_settings(), sources, metrics)
    assert default is not None and (default.host, default.port) == ("127.0.0.1", 8080)
    monkeypatch.setenv("WANBOT_HTTP_HOST", "0.0.0.0")
    monkeypatch.setenv("WANBOT_HTTP_PORT", "9100")
    custom = build_health_server(load_settings(), sources, metrics)
    assert custom is not None and (custom.host, custom.port) == ("0.0.0.0", 9100)
    monkeypatch.setenv("WANBOT_HTTP_PORT", "0")
    assert build_health_server(load_settings(), sources, metrics) is None


# -- the container HEALTHCHECK probe -----------------------------------------------------------------


async def test_probe_exit_codes_follow_health(server, sources, capsys) -> None:
    url = server.url + "/healthz"
    # urllib blocks: run it in a thread so the server on this loop can answer.
    assert await asyncio.to_thread(probe_main, ["--url", url]) == 0
    assert capsys.readouterr().out.strip() == "ok"
    sources.connected = False
    assert await asyncio.to_thread(probe_main, ["--url", url]) == 1
    assert capsys.readouterr().out.strip() == GATEWAY_DOWN


async def test_probe_fails_when_nothing_listens(sources, metrics, capsys) -> None:
    srv = HealthServer("127.0.0.1", 0, sources, metrics)
    await srv.start()
    await srv.stop()
    assert await asyncio.to_thread(probe_main, ["--url", srv.url + "/healthz", "--timeout", "2"]) == 1
    assert "not answering" in capsys.readouterr().out


def test_probe_reads_the_port_from_settings(monkeypatch, capsys) -> None:
    monkeypatch.setenv("WANBOT_HTTP_PORT", "0")
    assert probe_main([]) == 0
    assert "disabled" in capsys.readouterr().out
    assert local_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/healthz"
    assert local_url("::", 9000) == "http://[::1]:9000/healthz"
    assert local_url("10.0.0.5", 8080) == "http://10.0.0.5:8080/healthz"
