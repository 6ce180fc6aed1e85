"""The shipped Grafana dashboard only queries metrics the gateway exports (a rename must update it)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from metering import metrics  # noqa: F401 - registers the metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "gempool.json"
# metering.collectors: read from the database at scrape time
DB_METRICS = {"gempool_accounts", "gempool_account_info", "gempool_refresh_jobs"}


def _exported() -> set[str]:
    names = set(DB_METRICS)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    for family in REGISTRY.collect():  # families exist before any sample: build the names from the type
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ())}
    return names


def _queried() -> set[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in board["templating"]["list"] if isinstance(v.get("query"), dict)]
    return {name for expr in exprs for name in re.findall(r"\bgempool_[a-z_]+", expr)}


@pytest.mark.parametrize("name", sorted(_queried()))
def test_each_queried_metric_exists(name):
    assert name in _exported()


def test_the_board_covers_requests_latency_upstream_accounts_and_rejections():
    assert {"gempool_completions_total", "gempool_completion_duration_seconds_bucket",
            "gempool_completion_ttft_seconds_bucket", "gempool_upstream_attempts_total",
            "gempool_upstream_errors_total", "gempool_accounts", "gempool_rate_limit_rejections_total"} <= _queried()
