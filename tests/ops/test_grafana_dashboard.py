"""deploy/grafana/wanbot.json queries only what wanbot exports: every metric name and label in
its PromQL is compared with a real /metrics scrape (histogram and counter suffixes included),
so a renamed metric fails here instead of leaving an empty panel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ops._promql import TARGET_LABELS, exported, selectors

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "wanbot.json"


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> list[dict]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def expressions() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def test_the_selector_parser_reads_names_and_labels() -> None:
    """The parser the checks below rely on: functions, keywords, ranges and strings are not names."""
    names, labels = selectors('histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="y,z"}[$__rate_interval]))) '
                              "/ on (instance) group_left b + sum without (job) (c offset 5m)")
    assert names == {"a_bucket", "b", "c"} and labels == {"le", "x", "instance", "job"}


async def test_every_metric_and_label_the_dashboard_queries_is_exported() -> None:
    series = await exported()
    for expr in expressions():
        names, labels = selectors(expr)
        assert names, expr
        unknown = names - set(series)
        assert not unknown, f"{expr}: not exported: {sorted(unknown)}"
        offered = set().union(*(series[name] for name in names)) | TARGET_LABELS
        assert labels <= offered, f"{expr}: labels not exported: {sorted(labels - offered)}"


async def test_every_exported_metric_has_a_panel() -> None:
    """Each family (histogram suffixes and _created aside) is on the dashboard."""
    families = {name.removesuffix("_total") for name in await exported()
                if not name.endswith(("_created", "_bucket", "_sum", "_count"))}
    queried = {name.removesuffix("_total").removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
               for expr in expressions() for name in selectors(expr)[0]}
    histograms = {f"wanbot_job_{phase}_seconds" for phase in ("queued", "running", "delivering")}
    assert families | histograms <= queried, f"no panel for {sorted((families | histograms) - queried)}"


@pytest.mark.parametrize("words", ["queue depth", "jobs by state", "backend up", "backend busy", "quantiles",
                                   "refusals", "discord errors"])
def test_the_panels_the_operator_expects_are_there(words: str) -> None:
    assert any(words in panel["title"].lower() for panel in panels())


def test_histogram_quantiles_aggregate_buckets_by_le_across_processes() -> None:
    quantiles = [expr for expr in expressions() if expr.startswith("histogram_quantile(")]
    assert len(quantiles) >= 9  # three quantiles for each of the three phases
    for expr in quantiles:
        assert "sum by (le) (rate(" in expr and "_bucket[" in expr, expr


def test_store_wide_gauges_are_not_summed_across_processes() -> None:
    """Every process reports the same database: summing would multiply by the replicas."""
    for expr in expressions():
        names, _ = selectors(expr)
        if names & {"wanbot_queue_depth", "wanbot_jobs"}:
            assert not expr.startswith("sum"), expr


def test_every_panel_uses_the_datasource_variable_and_has_a_place() -> None:
    data = dashboard()
    assert [v["name"] for v in data["templating"]["list"] if v["type"] == "datasource"] == ["datasource"]
    ids = [panel["id"] for panel in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(target["datasource"]["uid"] == "${datasource}" for target in panel["targets"])
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
