"""POST /api/accounts/bulk: one action over many accounts, a result per id, the single routes' permissions."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.bulk import BULK_MAX_IDS, BULK_TEST_MAX_IDS
from accounts.models import Account, AccountStatus
from gemini_enterprise.simulator import SimAccount

pytestmark = pytest.mark.django_db
MISSING = 987_654


def bulk(client, action: str, ids: list[int], **extra):
    return client.post("/api/accounts/bulk", data=json.dumps({"action": action, "ids": ids}),
                       content_type="application/json", **extra)


def by_id(response) -> dict[int, dict]:
    return {row["id"]: row for row in response.json()["results"]}


def test_bulk_disable_and_enable_change_every_found_account(staff_client, make_account):
    a, b, untouched = make_account(), make_account(), make_account()
    response = bulk(staff_client, "disable", [a.pk, b.pk])
    assert response.status_code == 200
    body = response.json()
    assert (body["action"], body["requested"], body["succeeded"], body["failed"]) == ("disable", 2, 2, 0)
    assert {row["status"] for row in body["results"]} == {"disabled"}
    assert list(Account.objects.filter(enabled=False).values_list("pk", flat=True)) == [a.pk, b.pk]
    assert Account.objects.get(pk=untouched.pk).enabled
    enabled = by_id(bulk(staff_client, "enable", [b.pk]))
    assert enabled[b.pk] == {"id": b.pk, "ok": True, "status": "active"}


def test_unknown_ids_are_reported_and_the_rest_still_done(staff_client, make_account):
    a = make_account()
    response = bulk(staff_client, "disable", [MISSING, a.pk, a.pk])
    body = response.json()
    assert response.status_code == 200 and body["requested"] == 2 and body["failed"] == 1
    assert [row["id"] for row in body["results"]] == [MISSING, a.pk]  # the order given, each id once
    assert by_id(response)[MISSING] == {"id": MISSING, "ok": False,
                                        "error": {"code": "not_found", "message": "No account with this id."}}
    assert not Account.objects.get(pk=a.pk).enabled


def test_bulk_clear_cooldown_makes_resting_accounts_usable(staff_client, make_account):
    resting = make_account(status=AccountStatus.COOLING_DOWN, cooldown_until=timezone.now() + timedelta(hours=1),
                           cooldown_streak=3)
    assert by_id(bulk(staff_client, "clear_cooldown", [resting.pk]))[resting.pk]["status"] == "active"
    resting.refresh_from_db()
    assert resting.cooldown_until is None and resting.cooldown_streak == 0


def test_bulk_delete_removes_the_accounts_and_reports_the_missing(staff_client, make_account):
    a, b, kept = make_account(), make_account(), make_account()
    results = by_id(bulk(staff_client, "delete", [a.pk, MISSING, b.pk]))
    assert results[a.pk] == {"id": a.pk, "ok": True, "status": "deleted"} and results[b.pk]["ok"]
    assert results[MISSING]["error"]["code"] == "not_found"
    assert list(Account.objects.values_list("pk", flat=True)) == [kept.pk]


def test_bulk_test_checks_each_login_and_records_the_outcome(staff_client, make_account, sim, upstream_settings):
    alive, dead = make_account(), make_account(status=AccountStatus.ACTIVE)
    sim.add_account(SimAccount(csesidx=alive.csesidx, secure_c_ses=alive.secure_c_ses, team_id=alive.team_id,
                               host_c_oses=alive.host_c_oses))
    results = by_id(bulk(staff_client, "test", [alive.pk, dead.pk, MISSING]))
    assert results[alive.pk]["ok"] is True and results[alive.pk]["status"] == "active"
    assert results[alive.pk]["error"] is None and results[alive.pk]["latency_ms"] >= 0
    assert results[dead.pk]["ok"] is False and results[dead.pk]["status"] == "needs_login"
    assert results[dead.pk]["error"]["kind"] == "login_required"
    assert results[MISSING]["ok"] is False
    assert Account.objects.get(pk=dead.pk).status == AccountStatus.NEEDS_LOGIN


def test_too_many_ids_are_refused_before_anything_changes(staff_client, make_account):
    a = make_account()
    response = bulk(staff_client, "disable", [a.pk] + list(range(MISSING, MISSING + BULK_MAX_IDS)))
    assert response.status_code == 400 and response.json()["error"]["param"] == "ids"
    assert Account.objects.get(pk=a.pk).enabled


def test_a_bulk_test_of_too_many_accounts_says_how_many_fit(staff_client):
    response = bulk(staff_client, "test", list(range(1, BULK_TEST_MAX_IDS + 2)))
    assert response.status_code == 400
    assert f"at most {BULK_TEST_MAX_IDS} accounts" in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [{"action": "explode", "ids": [1]}, {"action": "disable", "ids": []},
                                  {"action": "disable", "ids": ["x"]}, {"action": "disable"}, {"ids": [1]}])
def test_a_malformed_bulk_request_is_a_400(staff_client, body):
    response = staff_client.post("/api/accounts/bulk", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["fields"]


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user(username="viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(user)
    return client, user


def test_each_bulk_action_needs_the_permission_of_its_single_route(viewer, make_account):
    client, user = viewer
    a = make_account()
    for action in ("enable", "disable", "test", "clear_cooldown", "delete"):
        response = bulk(client, action, [a.pk])
        assert response.status_code == 403, action
        assert "lacks the permission" in response.json()["error"]["message"]
    user.user_permissions.add(Permission.objects.get(codename="delete_account"))
    assert bulk(client, "disable", [a.pk]).status_code == 403
    assert bulk(client, "delete", [a.pk]).status_code == 200
    assert not Account.objects.filter(pk=a.pk).exists()


def test_an_admin_key_may_run_bulk_actions(client, admin_key, make_account):
    a = make_account()
    response = bulk(client, "disable", [a.pk], HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}")
    assert response.status_code == 200 and response.json()["succeeded"] == 1


def test_a_chat_key_may_not(client, api_key, make_account):
    a = make_account()
    assert bulk(client, "disable", [a.pk], HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").status_code in (401, 403)
    assert Account.objects.get(pk=a.pk).enabled


def test_a_bulk_test_runs_its_upstream_checks_side_by_side_within_the_bound(make_account, monkeypatch):
    from accounts import services

    accounts = [make_account() for _ in range(6)]
    barrier = threading.Barrier(3, timeout=10)  # passes only when three checks are in flight at once
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def probe(creds, chat):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        barrier.wait()
        with lock:
            in_flight[0] -= 1
        return services._Probe(error=None, latency_ms=1, reply=None)

    monkeypatch.setattr(services, "_probe", probe)
    results = services.account_test_many(accounts=accounts, concurrency=3)
    assert most[0] == 3 and all(result.ok for result in results.values())
    assert set(results) == {account.pk for account in accounts}
