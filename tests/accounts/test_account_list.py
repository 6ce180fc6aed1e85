"""GET /api/accounts at scale: pagination, ordering, status filter and search, in a fixed number of queries."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccountStatus, RequestLog
from logins.models import LoginProfile
from metering.models import AttemptOutcome, RequestAttempt

pytestmark = pytest.mark.django_db


def ids(rows: list[dict]) -> list[int]:
    return [row["id"] for row in rows]


def attempts(account, *, ok: int = 0, errors: int = 0) -> None:
    now = timezone.now()
    for outcome, count in ((AttemptOutcome.OK, ok), (AttemptOutcome.ERROR, errors)):
        for _ in range(count):
            row = RequestLog.objects.create(created_at=now, account=account, status_code=200, latency_ms=10,
                                            model="gemini-2.5-flash")
            RequestAttempt.objects.create(request=row, account=account, started_at=now, latency_ms=10,
                                          outcome=outcome, error_kind="unavailable" if outcome == "error" else "")


def test_without_page_parameters_the_list_is_the_plain_array_it_always_was(staff_client, make_account):
    accounts = [make_account() for _ in range(3)]
    data = staff_client.get("/api/accounts").json()
    assert isinstance(data, list) and ids(data) == [a.pk for a in accounts]


def test_a_page_carries_the_count_and_links_to_its_neighbours(staff_client, make_account):
    accounts = [make_account() for _ in range(5)]
    first = staff_client.get("/api/accounts?page_size=2").json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 5 and first["previous"] is None and ids(first["results"]) == [a.pk for a in accounts[:2]]
    second = staff_client.get(first["next"]).json()
    assert ids(second["results"]) == [a.pk for a in accounts[2:4]] and second["previous"]
    last = staff_client.get("/api/accounts?page=3&page_size=2").json()
    assert ids(last["results"]) == [accounts[4].pk] and last["next"] is None


def test_page_alone_uses_the_default_page_size(staff_client, make_account):
    make_account()
    data = staff_client.get("/api/accounts?page=1").json()
    assert data["count"] == 1 and len(data["results"]) == 1


@pytest.mark.parametrize(("query", "field"), [
    ("page_size=201", "page_size"), ("page_size=0", "page_size"), ("page=0", "page"), ("page=x", "page"),
    ("ordering=secure_c_ses", "ordering"), ("ordering=-nope", "ordering"), ("status=sleeping", "status"),
    ("search=" + "x" * 201, "search"),
])
def test_bad_list_parameters_are_a_400_naming_the_parameter(staff_client, query, field):
    response = staff_client.get(f"/api/accounts?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field and field in error["fields"]


def test_an_unknown_ordering_lists_the_ones_that_exist(staff_client):
    message = staff_client.get("/api/accounts?ordering=password").json()["error"]["message"]
    assert "Unknown ordering 'password'" in message and "last_used" in message and "descending" in message


def test_a_page_past_the_end_is_a_404(staff_client, make_account):
    make_account()
    assert staff_client.get("/api/accounts?page=2&page_size=10").status_code == 404


def test_accounts_sort_by_label_either_way_with_ties_broken_by_id(staff_client, make_account):
    b, a, c = make_account(label="beta"), make_account(label="Alpha"), make_account(label="gamma")
    assert ids(staff_client.get("/api/accounts?ordering=label").json()) == [a.pk, b.pk, c.pk]
    assert ids(staff_client.get("/api/accounts?ordering=-label").json()) == [c.pk, b.pk, a.pk]


def test_accounts_sort_by_effective_status(staff_client, make_account):
    now = timezone.now()
    off = make_account(enabled=False, status=AccountStatus.DISABLED)
    cooling = make_account(status=AccountStatus.COOLING_DOWN, cooldown_until=now + timedelta(minutes=5))
    login = make_account(status=AccountStatus.NEEDS_LOGIN)
    expired_cooldown = make_account(status=AccountStatus.COOLING_DOWN, cooldown_until=now - timedelta(minutes=5))
    data = staff_client.get("/api/accounts?ordering=status").json()
    assert ids(data) == [expired_cooldown.pk, cooling.pk, login.pk, off.pk]
    assert [row["status"] for row in data] == ["active", "cooling_down", "needs_login", "disabled"]


def test_accounts_sort_by_the_requests_and_errors_the_list_shows(staff_client, make_account):
    quiet, busy, flaky = make_account(), make_account(), make_account()
    attempts(busy, ok=4)
    attempts(flaky, ok=1, errors=2)
    by_requests = staff_client.get("/api/accounts?ordering=-requests").json()
    assert ids(by_requests) == [busy.pk, flaky.pk, quiet.pk]
    assert [row["last_24h"]["requests"] for row in by_requests] == [4, 3, 0]
    # Descending is the ascending order reversed, ties included.
    assert ids(staff_client.get("/api/accounts?ordering=-errors").json()) == [flaky.pk, busy.pk, quiet.pk]
    assert ids(staff_client.get("/api/accounts?ordering=errors").json()) == [quiet.pk, busy.pk, flaky.pk]


def test_never_used_accounts_sort_last_by_last_use_both_ways(staff_client, make_account):
    now = timezone.now()
    never = make_account()
    old, recent = make_account(last_used_at=now - timedelta(days=1)), make_account(last_used_at=now)
    assert ids(staff_client.get("/api/accounts?ordering=last_used").json()) == [old.pk, recent.pk, never.pk]
    assert ids(staff_client.get("/api/accounts?ordering=-last_used").json()) == [recent.pk, old.pk, never.pk]


def test_the_status_filter_takes_one_status_or_several(staff_client, make_account):
    active = make_account()
    off = make_account(enabled=False, status=AccountStatus.DISABLED)
    login = make_account(status=AccountStatus.NEEDS_LOGIN)
    assert ids(staff_client.get("/api/accounts?status=active").json()) == [active.pk]
    assert ids(staff_client.get("/api/accounts?status=disabled,needs_login").json()) == [off.pk, login.pk]
    paged = staff_client.get("/api/accounts?status=disabled&page_size=10").json()
    assert paged["count"] == 1 and ids(paged["results"]) == [off.pk]


def test_search_finds_label_team_id_and_login_email_in_any_case(staff_client, make_account):
    by_label = make_account(label="Marketing seat")
    by_team = make_account(team_id="team-finance-7")
    by_email = make_account()
    LoginProfile.objects.create(account=by_email, email="Ops.Person@example.com")
    make_account(label="unrelated")
    assert ids(staff_client.get("/api/accounts?search=marketing").json()) == [by_label.pk]
    assert ids(staff_client.get("/api/accounts?search=FINANCE").json()) == [by_team.pk]
    assert ids(staff_client.get("/api/accounts?search=ops.person@").json()) == [by_email.pk]
    assert ids(staff_client.get("/api/accounts?ordering=email&search=e").json())[0] == by_email.pk


@pytest.mark.parametrize("size", [3, 30])
def test_a_page_costs_the_same_queries_whatever_the_pool_size(staff_client, make_account, django_assert_num_queries,
                                                              size):
    for _ in range(size):
        attempts(make_account(), ok=1)
    staff_client.get("/api/accounts?page_size=2")  # first use of the session: warm-up, not counted
    # session, user, its two permission lookups; then the count, the page, the pool settings, the 24 h figures
    with django_assert_num_queries(8):
        response = staff_client.get("/api/accounts?page_size=20&ordering=-errors&status=active&search=seat")
    assert response.status_code == 200 and response.json()["count"] == size


@pytest.mark.parametrize("size", [3, 30])
def test_the_plain_list_costs_the_same_queries_whatever_the_pool_size(staff_client, make_account,
                                                                      django_assert_num_queries, size):
    for _ in range(size):
        make_account()
    staff_client.get("/api/accounts?page_size=2")
    with django_assert_num_queries(7):  # as a page, without the count
        assert len(staff_client.get("/api/accounts").json()) == size
