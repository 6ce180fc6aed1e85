"""/api/usage and its CSV export: filters, grouping, validation, protection."""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from accounts.services import api_key_create
from metering.models import UsageDay

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(db):
    ops, _ = api_key_create(name="ops")
    web, _ = api_key_create(name="=web")
    rows = [(date(2026, 12, 1), ops.pk, "gemini-2.5-flash", 3, 1), (date(2026, 12, 1), web.pk, "gemini-2.5-pro", 2, 0),
            (date(2026, 12, 3), ops.pk, "gemini-2.5-pro", 5, 0), (date(2026, 11, 20), ops.pk, "gemini-2.5-flash", 7, 0),
            (date(2026, 12, 2), 999, "gemini-2.5-flash", 1, 0)]
    for day, key, model, requests, errors in rows:
        UsageDay.objects.create(day=day, api_key_id=key, model=model, requests=requests, errors=errors,
                                prompt_tokens=10 * requests, completion_tokens=requests,
                                latency_ms_total=100 * requests)
    return {"ops": ops, "web": web}


RANGE = {"from": "2026-12-01", "to": "2026-12-03"}


def test_usage_totals_a_range_and_draws_series_per_key_and_model(staff_client, usage):
    data = staff_client.get("/api/usage", RANGE).json()
    assert data["totals"] == {"requests": 11, "errors": 1, "prompt_tokens": 110, "completion_tokens": 11,
                              "attachments": 0, "latency_ms_avg": 100}
    assert data["days"] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert [r["requests"] for r in data["rows"]] == [5, 1, 5]  # grouped by day (the default)
    by_key = {s["name"]: s["requests"] for s in data["by_key"]}
    assert by_key == {"ops": [3, 0, 5], "=web": [2, 0, 0], "(deleted key #999)": [0, 1, 0]}
    assert [s["name"] for s in data["by_model"]] == ["gemini-2.5-pro", "gemini-2.5-flash"]  # busiest first


def test_usage_filters_by_key_and_model_and_groups_by_several(staff_client, usage):
    data = staff_client.get("/api/usage", {**RANGE, "key": usage["ops"].pk, "group_by": "key,model"}).json()
    assert [(r["key"]["name"], r["model"], r["requests"]) for r in data["rows"]] == [
        ("ops", "gemini-2.5-flash", 3), ("ops", "gemini-2.5-pro", 5)]
    data = staff_client.get("/api/usage", {**RANGE, "model": "gemini-2.5-pro", "group_by": "model"}).json()
    assert data["rows"] == [{"model": "gemini-2.5-pro", "requests": 7, "errors": 0, "prompt_tokens": 70,
                             "completion_tokens": 7, "attachments": 0, "latency_ms_avg": 100}]


@pytest.mark.parametrize("params, field", [({"from": "2026-12-05", "to": "2026-12-01"}, "from"),
                                           ({"from": "2024-01-01", "to": "2026-12-01"}, "from"),
                                           ({"from": "yesterday"}, "from"), ({"group_by": "day,account"}, "group_by"),
                                           ({"key": "-1"}, "key")])
def test_bad_queries_get_a_json_400_naming_the_parameter(staff_client, params, field):
    response = staff_client.get("/api/usage", params)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_the_csv_export_has_one_line_per_group_and_defuses_formulas(staff_client, usage):
    response = staff_client.get("/api/usage/export", {**RANGE, "group_by": "day,key"})
    assert response["Content-Type"].startswith("text/csv")
    assert "gempool-usage-2026-12-01-to-2026-12-03.csv" in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0] == ["key_id", "key", "day", "requests", "errors", "prompt_tokens", "completion_tokens",
                        "attachments", "latency_ms_avg"]
    assert [str(usage["web"].pk), "'=web", "2026-12-01", "2"] == lines[2][:4]
    assert len(lines) == 1 + 4


def test_usage_needs_staff_or_an_admin_key(client, api_key, admin_key):
    assert client.get("/api/usage").status_code in (401, 403)
    assert client.get("/api/usage", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").status_code == 403
    assert client.get("/api/usage", HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}").status_code == 200
