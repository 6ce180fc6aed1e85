"""/api/requests: the searchable request log, newest first, a page at a time, each request with its attempts."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import api_key_create
from logins.models import LoginProfile
from metering.models import AttemptOutcome
from metering.records import AttemptRecord, RequestRecord, request_record
from metering.request_log import RequestLogQuery, request_log_page

pytestmark = pytest.mark.django_db

FLASH, PRO = "gemini-2.5-flash", "gemini-2.5-pro"


def _add(now, *, ago: timedelta, key=None, model=FLASH, status=200, error="", attempts=(), stream=False,
         endpoint="chat", request_id="", prompt=None) -> int:
    """A request-log row as the run engine writes it; attempts are (account, outcome, error kind)."""
    at = now - ago
    records = tuple(AttemptRecord(account_id=account.pk, started_at=at + timedelta(milliseconds=10 * i),
                                  latency_ms=100 + i, outcome=outcome, error_kind=kind)
                    for i, (account, outcome, kind) in enumerate(attempts))
    answering = attempts[-1][0].pk if attempts and attempts[-1][1] == AttemptOutcome.OK else None
    record = RequestRecord(endpoint=endpoint, model=model, stream=stream, status_code=status, latency_ms=300,
                           request_id=request_id, account_id=answering, api_key_id=key.pk if key else None,
                           key_name=key.name if key else "", error_kind=error, prompt_tokens=12,
                           completion_tokens=7, tool_calls=1, ttft_ms=90 if stream else None, attempts=records,
                           prompt_excerpt=prompt)
    return request_record(record, now=at)


@pytest.fixture
def log(make_account):
    """Five requests over two days: a fail-over, a 502, a stream that broke after 200, a 429 that reached no
    account, and an old Messages call."""
    now = timezone.now()
    first, second = make_account(label="seat one"), make_account(label="seat two")
    LoginProfile.objects.create(account=second, email="two@example.com")
    ops, _ = api_key_create(name="ops")
    web, _ = api_key_create(name="web")
    ids = {
        "failover": _add(now, ago=timedelta(hours=3), key=ops, request_id="aaa111000000000000000001",
                         attempts=[(first, AttemptOutcome.ERROR, "rate_limited"), (second, AttemptOutcome.OK, "")]),
        "bad_gateway": _add(now, ago=timedelta(hours=2), key=web, model=PRO, status=502, error="upstream_error",
                            request_id="bbb222000000000000000002",
                            attempts=[(first, AttemptOutcome.ERROR, "upstream_error")]),
        "broken_stream": _add(now, ago=timedelta(minutes=30), key=ops, stream=True, error="upstream_error",
                              request_id="aaa999000000000000000003",
                              attempts=[(second, AttemptOutcome.ERROR, "upstream_error")]),
        "cooling": _add(now, ago=timedelta(minutes=10), status=429, error="all_accounts_cooling_down",
                        request_id="ccc333000000000000000004"),
        "old": _add(now, ago=timedelta(days=2), key=ops, endpoint="messages", request_id="ddd444000000000000000005",
                    attempts=[(second, AttemptOutcome.OK, "")]),
    }
    return {"ids": ids, "first": first, "second": second, "ops": ops, "web": web, "now": now}


def _names(log, data) -> list[str]:
    by_id = {pk: name for name, pk in log["ids"].items()}
    return [by_id[row["id"]] for row in data["results"]]


def test_the_log_lists_requests_newest_first_with_their_key_and_attempts(staff_client, log):
    data = staff_client.get("/api/requests").json()
    assert _names(log, data) == ["cooling", "broken_stream", "bad_gateway", "failover", "old"]
    assert (data["more"], data["next"], data["prompt_logging"], data["retention_days"]) == (False, None, False, 7)
    failover = data["results"][3]
    assert failover["key"] == {"id": log["ops"].pk, "name": "ops"}
    assert (failover["model"], failover["endpoint"], failover["status_code"], failover["failed"]) == (
        FLASH, "chat", 200, False)
    assert failover["tokens"] == {"prompt": 12, "completion": 7} and failover["tool_calls"] == 1
    assert [(a["account"]["label"], a["account"]["email"], a["outcome"], a["error_kind"], a["latency_ms"])
            for a in failover["attempts"]] == [("seat one", "", "error", "rate_limited", 100),
                                               ("seat two", "two@example.com", "ok", "", 101)]
    assert failover["account"]["id"] == log["second"].pk and failover["prompt"] is None
    cooling = data["results"][0]
    assert (cooling["key"], cooling["attempts"], cooling["failed"]) == (None, [], True)
    broken = data["results"][1]
    assert (broken["status_code"], broken["failed"], broken["stream"], broken["ttft_ms"]) == (200, True, True, 90)


@pytest.mark.parametrize("params, expected", [
    ({"from": "1h"}, ["cooling", "broken_stream"]),
    ({"from": "24h"}, ["cooling", "broken_stream", "bad_gateway", "failover"]),
    ({"from": "7d", "to": "1h"}, ["bad_gateway", "failover", "old"]),
    ({"model": PRO}, ["bad_gateway"]),
    ({"status": "error"}, ["cooling", "broken_stream", "bad_gateway"]),
    ({"status": "ok"}, ["failover", "old"]),
    ({"status": "2xx"}, ["broken_stream", "failover", "old"]),
    ({"status": "5xx"}, ["bad_gateway"]),
    ({"status": "429"}, ["cooling"]),
    ({"error_kind": "upstream_error"}, ["broken_stream", "bad_gateway"]),
    ({"endpoint": "messages"}, ["old"]),
    ({"q": "aaa"}, ["broken_stream", "failover"]),
    ({"q": "aaa1"}, ["failover"]),
    ({"q": "AAA999000000000000000003"}, ["broken_stream"]),
    ({"q": "chatcmpl-bbb222000000000000000002"}, ["bad_gateway"]),
    ({"q": "resp_ccc"}, ["cooling"]),
    ({"q": "ddf"}, []),
    ({"status": "error", "from": "1h"}, ["cooling", "broken_stream"]),
])
def test_filters_narrow_the_log(staff_client, log, params, expected):
    response = staff_client.get("/api/requests", params)
    assert response.status_code == 200, response.json()
    assert _names(log, response.json()) == expected


def test_keys_filter_by_id_and_zero_means_no_key(staff_client, log):
    assert _names(log, staff_client.get("/api/requests", {"key": log["ops"].pk}).json()) == [
        "broken_stream", "failover", "old"]
    assert _names(log, staff_client.get("/api/requests", {"key": 0}).json()) == ["cooling"]


def test_an_account_matches_every_request_it_attempted_not_only_those_it_answered(staff_client, log):
    data = staff_client.get("/api/requests", {"account": log["first"].pk}).json()
    assert _names(log, data) == ["bad_gateway", "failover"]  # it answered neither
    data = staff_client.get("/api/requests", {"account": log["second"].pk}).json()
    assert _names(log, data) == ["broken_stream", "failover", "old"]


def test_iso_times_and_dates_bound_the_range(staff_client, log):
    start = (log["now"] - timedelta(hours=2, minutes=30)).isoformat()
    end = (log["now"] - timedelta(minutes=20)).isoformat()
    assert _names(log, staff_client.get("/api/requests", {"from": start, "to": end}).json()) == [
        "broken_stream", "bad_gateway"]
    old_day = (log["now"] - timedelta(days=2)).date().isoformat()
    assert "old" in _names(log, staff_client.get("/api/requests", {"from": old_day, "to": old_day}).json())


def test_pages_follow_each_other_without_repeats_or_gaps_even_on_equal_times(staff_client, make_account):
    now = timezone.now()
    account = make_account()
    same = [_add(now, ago=timedelta(minutes=5), attempts=[(account, AttemptOutcome.OK, "")]) for _ in range(5)]
    older = [_add(now, ago=timedelta(minutes=10 + i)) for i in range(3)]
    seen, cursor, pages = [], None, 0
    while True:
        data = staff_client.get("/api/requests", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [row["id"] for row in data["results"]]
        pages += 1
        if pages == 1:  # a request that arrives while the operator reads shifts nothing
            _add(now, ago=timedelta(seconds=1))
        if not data["more"]:
            assert data["next"] is None
            break
        cursor = data["next"]
    assert seen == sorted(same, reverse=True) + older and pages == 4


def test_one_request_is_served_by_its_id_and_a_missing_one_is_a_json_404(staff_client, log):
    data = staff_client.get(f"/api/requests/{log['ids']['failover']}").json()
    assert data["request_id"] == "aaa111000000000000000001" and len(data["attempts"]) == 2
    missing = staff_client.get("/api/requests/999999")
    assert missing.status_code == 404 and "retention" in missing.json()["error"]["message"]


@pytest.mark.parametrize("params, field", [
    ({"from": "yesterday"}, "from"), ({"to": "3 hours"}, "to"), ({"from": "2026-13-40"}, "from"),
    ({"from": "1h", "to": "2h"}, "from"), ({"status": "6xx"}, "status"), ({"status": "failed"}, "status"),
    ({"q": "not-an-id!"}, "q"), ({"q": "chatcmpl-"}, "q"), ({"cursor": "page-2"}, "cursor"),
    ({"cursor": "12_x"}, "cursor"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"key": -1}, "key"),
    ({"account": 0}, "account"), ({"account": "seat one"}, "account"), ({"account": 2**63}, "account"),
    ({"cursor": "999999999999999999_1"}, "cursor"), ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
])
def test_bad_filters_get_a_json_400_naming_the_parameter(staff_client, params, field):
    response = staff_client.get("/api/requests", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()


def test_a_page_takes_two_queries_whatever_its_rows_and_attempts(log, django_assert_num_queries):
    for _ in range(10):
        _add(log["now"], ago=timedelta(minutes=1), key=log["web"],
             attempts=[(log["first"], AttemptOutcome.ERROR, "rate_limited"), (log["second"], AttemptOutcome.OK, "")])
    with django_assert_num_queries(2):  # the rows with key and account; every attempt with its account
        page = request_log_page(query=RequestLogQuery(limit=12))
    assert len(page["results"]) == 12 and page["more"]
    assert sum(len(row["attempts"]) for row in page["results"]) == 21  # 10 fail-overs, the broken stream


def test_the_api_query_count_does_not_grow_with_the_page(client, admin_key, log):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {admin_key[1]}"}
    client.get("/api/requests", {"limit": 1}, **headers)  # first use stamps the key's last_used_at
    with CaptureQueriesContext(connection) as one:
        client.get("/api/requests", {"limit": 1}, **headers)
    with CaptureQueriesContext(connection) as five:
        assert len(client.get("/api/requests", {"limit": 5}, **headers).json()["results"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


@pytest.fixture
def bare_staff(client, django_user_model):
    user = django_user_model.objects.create_user(username="viewer", password="pw-viewer-123", is_staff=True)
    client.force_login(user)
    return client, user


def test_a_staff_user_needs_the_view_permission_on_the_request_log(bare_staff, log):
    client, user = bare_staff
    refused = client.get("/api/requests")
    assert refused.status_code == 403 and "accounts.view_requestlog" in refused.json()["error"]["message"]
    assert client.get(f"/api/requests/{log['ids']['old']}").status_code == 403
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="view_requestlog"))
    assert client.get("/api/requests").status_code == 200
    assert client.get(f"/api/requests/{log['ids']['old']}").status_code == 200


def test_the_log_needs_staff_or_an_admin_key(client, api_key, admin_key):
    assert client.get("/api/requests").status_code == 403
    assert client.get("/api/requests", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").status_code == 403
    assert client.get("/api/requests", HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}").status_code == 200


def test_a_kept_prompt_is_shown_and_the_flag_tells_whether_prompts_are_kept(staff_client, settings, make_account):
    settings.GEMPOOL_LOG_PROMPTS = True
    pk = _add(timezone.now(), ago=timedelta(minutes=1), prompt="What is the capital of France?")
    data = staff_client.get("/api/requests").json()
    assert data["prompt_logging"] is True
    assert staff_client.get(f"/api/requests/{pk}").json()["prompt"] == "What is the capital of France?"
