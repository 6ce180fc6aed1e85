"""The account life cycle: every event in every state, the one-writer rule, and no lost update under load."""
from __future__ import annotations

import ast
import itertools
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts import lifecycle
from accounts.models import Account, AccountStatus, PoolSettings
from gemini_enterprise.errors import LoginRequired, RateLimited, Unavailable
from tests.gateway_process import ROOT, database_url
from tests.polling import wait_until

pytestmark = pytest.mark.django_db

HINT_SECONDS = 30  # the upstream's retry hint in the rate-limit event
REST_SECONDS = 15  # the pool's rest after a transient failure
LEFT_SECONDS = 300  # cooldown left in the cooling_down state: longer than the rest, shorter than nothing
POOL = PoolSettings(cooldown_base_seconds=60, cooldown_max_seconds=3600, unavailable_rest_seconds=REST_SECONDS)


# ---- the states: each a row as the database holds it, relative to the event's time `now` ----------

def _states(now):
    used = now - timedelta(hours=1)
    base = {"last_used_at": used, "ready_at": used, "request_count": 10, "success_count": 5, "failure_count": 3,
            "consecutive_failures": 2, "cooldown_streak": 1, "logged_in_at": now - timedelta(hours=3),
            "login_expires_at": now + timedelta(hours=9)}
    login_error = {"last_error_kind": "login_required", "last_error_reason": "cookies dead",
                   "last_error_at": now - timedelta(minutes=30)}
    cooling = {"status": AccountStatus.COOLING_DOWN, "last_error_kind": "rate_limited", "last_error_reason": "429",
               "last_error_at": now - timedelta(minutes=1)}
    off = {"enabled": False, "status": AccountStatus.DISABLED}
    return {
        "active": base,
        "cooling_down": {**base, **cooling, "cooldown_until": now + timedelta(seconds=LEFT_SECONDS),
                         "ready_at": now + timedelta(seconds=LEFT_SECONDS)},
        "cooling_down_over": {**base, **cooling, "cooldown_until": now - timedelta(seconds=1),
                              "ready_at": now - timedelta(seconds=1)},
        "needs_login": {**base, **login_error, "status": AccountStatus.NEEDS_LOGIN},
        "needs_attention": {**base, "status": AccountStatus.NEEDS_ATTENTION, "attention_reason": "a CAPTCHA",
                            "last_error_kind": "refresh_failed", "last_error_reason": "a CAPTCHA",
                            "last_error_at": now - timedelta(minutes=5)},
        "disabled": {**base, **off},
        # the enabled flag matters with the last error: a login problem since the last login, or one before it
        "disabled_login_error": {**base, **off, **login_error},
        "disabled_relogged_in": {**base, **off, **login_error, "logged_in_at": now - timedelta(minutes=10)},
    }


STATES = list(_states(timezone.now()))


# ---- the events, as a caller applies them ----------------------------------------------------------

EVENTS = {
    "enabled": lambda a, now: lifecycle.enabled(a, now=now),
    "disabled": lambda a, now: lifecycle.disabled(now=now),
    "cookies_replaced": lambda a, now: lifecycle.cookies_replaced(now=now),
    "leased": lambda a, now: lifecycle.leased(now=now),
    "succeeded": lambda a, now: lifecycle.succeeded(),
    "rate_limited": lambda a, now: lifecycle.rate_limited(
        error=RateLimited("quota", retry_after=HINT_SECONDS), streak=a.cooldown_streak, pool=POOL, now=now),
    "login_failed": lambda a, now: lifecycle.login_failed(error=LoginRequired("expired sign-in"), now=now),
    "transient_failure": lambda a, now: lifecycle.transient_failure(error=Unavailable("502"), pool=POOL, now=now),
    "test_passed": lambda a, now: lifecycle.test_passed(a, now=now),
    "test_failed_login": lambda a, now: lifecycle.test_failed(a, error=LoginRequired("expired sign-in"), now=now),
    "test_failed_other": lambda a, now: lifecycle.test_failed(a, error=Unavailable("502"), now=now),
    "cooldown_cleared": lambda a, now: lifecycle.cooldown_cleared(now=now),
    "login_refreshed": lambda a, now: lifecycle.login_refreshed(
        secure_c_ses="new-ses", host_c_oses="new-oses", csesidx="424242", team_id="team-new", now=now,
        expires_at=now + timedelta(hours=5)),
    "refresh_failed_soft": lambda a, now: lifecycle.refresh_failed(hard=False, reason="no mail yet", now=now),
    "refresh_failed_hard": lambda a, now: lifecycle.refresh_failed(hard=True, reason="access restricted", now=now),
}


# ---- what they do: expected fields after the event, by state. A value is literal, or a function of
# (field name, row before, now); a field not named keeps its value. -----------------------------------

def plus(n):
    return lambda name, before, now: before[name] + n


def used(name, before, now):
    return before["last_used_at"]


def at(seconds):
    return lambda name, before, now: now + timedelta(seconds=seconds)


def now_(name, before, now):
    return now


KEEP: dict = {}


def back(status, **more):
    """Out of (or back into) rotation at its last use, with no cooldown."""
    return {"status": status, "cooldown_until": None, "ready_at": used, **more}


def row(**cells):
    assert set(cells) == set(STATES), set(STATES) ^ set(cells)  # every state named in every row
    return cells


def failure(kind, reason):
    return {"failure_count": plus(1), "consecutive_failures": plus(1), "last_error_kind": kind,
            "last_error_reason": reason, "last_error_at": now_}


LOGIN_TIMES = {"logged_in_at": now_, "attention_reason": ""}
COOL = {"status": "cooling_down", "cooldown_until": at(HINT_SECONDS), "ready_at": at(HINT_SECONDS),
        "cooldown_streak": plus(1)}
REST = {"status": "cooling_down", "cooldown_until": at(REST_SECONDS), "ready_at": at(REST_SECONDS)}
LEASED = {"status": "active", "cooldown_until": None, "ready_at": now_, "last_used_at": now_,
          "request_count": plus(1)}
NO_ERROR = {"last_error_kind": "", "last_error_reason": "", "last_error_at": None}
OFF = back("disabled", enabled=False)
ON = {"enabled": True, "attention_reason": ""}

# event: (fields it writes in every state, {state: fields it writes in that state})
TABLE = {
    "enabled": (KEEP, row(
        active=KEEP, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=KEEP,
        needs_attention=back("needs_login", **ON), disabled=back("active", **ON),
        disabled_login_error=back("needs_login", **ON), disabled_relogged_in=back("active", **ON))),
    "disabled": (OFF, row(
        active=KEEP, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=KEEP, needs_attention=KEEP,
        disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "cookies_replaced": ({**LOGIN_TIMES, "login_expires_at": at(12 * 3600)}, row(
        active=KEEP, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=back("active"),
        needs_attention=back("active"), disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "leased": (KEEP, row(
        active=LEASED, cooling_down=KEEP, cooling_down_over=LEASED, needs_login=KEEP, needs_attention=KEEP,
        disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "succeeded": ({"success_count": plus(1), "consecutive_failures": 0, "cooldown_streak": 0}, row(
        active=KEEP, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=KEEP, needs_attention=KEEP,
        disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "rate_limited": (failure("rate_limited", "quota"), row(
        active=COOL, cooling_down=COOL, cooling_down_over=COOL, needs_login=KEEP, needs_attention=KEEP,
        disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "login_failed": (failure("login_required", "expired sign-in"), row(
        active=back("needs_login"), cooling_down=back("needs_login"), cooling_down_over=back("needs_login"),
        needs_login=back("needs_login"), needs_attention=KEEP, disabled=KEEP, disabled_login_error=KEEP,
        disabled_relogged_in=KEEP)),
    "transient_failure": (failure("unavailable", "502"), row(  # never shortens a longer cooldown
        active=REST, cooling_down=KEEP, cooling_down_over=REST, needs_login=KEEP, needs_attention=KEEP,
        disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "test_passed": ({"consecutive_failures": 0, "attention_reason": ""}, row(  # a cooldown's error says why
        active=NO_ERROR, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=back("active", **NO_ERROR),
        needs_attention=back("active", **NO_ERROR), disabled=NO_ERROR, disabled_login_error=NO_ERROR,
        disabled_relogged_in=NO_ERROR)),
    "test_failed_login": ({**failure("login_required", "expired sign-in"), "failure_count": plus(0)}, row(
        active=back("needs_login"), cooling_down=back("needs_login"), cooling_down_over=back("needs_login"),
        needs_login=back("needs_login"), needs_attention=KEEP, disabled=KEEP, disabled_login_error=KEEP,
        disabled_relogged_in=KEEP)),
    "test_failed_other": ({**failure("unavailable", "502"), "failure_count": plus(0)}, row(
        active=KEEP, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=KEEP, needs_attention=KEEP,
        disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "cooldown_cleared": ({"cooldown_until": None, "ready_at": used, "cooldown_streak": 0}, row(
        active=KEEP, cooling_down={"status": "active"}, cooling_down_over={"status": "active"}, needs_login=KEEP,
        needs_attention=KEEP, disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "login_refreshed": ({**LOGIN_TIMES, "login_expires_at": at(5 * 3600), "secure_c_ses": "new-ses",
                         "host_c_oses": "new-oses", "csesidx": "424242", "team_id": "team-new"}, row(
        active=KEEP, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=back("active"),
        needs_attention=back("active"), disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "refresh_failed_soft": ({"last_error_kind": "refresh_failed", "last_error_reason": "no mail yet",
                             "last_error_at": now_}, row(
        active=KEEP, cooling_down=KEEP, cooling_down_over=KEEP, needs_login=KEEP, needs_attention=KEEP,
        disabled=KEEP, disabled_login_error=KEEP, disabled_relogged_in=KEEP)),
    "refresh_failed_hard": ({"last_error_kind": "refresh_failed", "last_error_reason": "access restricted",
                             "last_error_at": now_, "attention_reason": "access restricted"}, row(
        active=back("needs_attention"), cooling_down=back("needs_attention"),
        cooling_down_over=back("needs_attention"), needs_login=back("needs_attention"),
        needs_attention=back("needs_attention"), disabled=KEEP, disabled_login_error=KEEP,
        disabled_relogged_in=KEEP)),
}

CHECKED = ["status", "enabled", "cooldown_until", "ready_at", "last_used_at", "request_count", "success_count",
           "failure_count", "consecutive_failures", "cooldown_streak", "last_error_kind", "last_error_reason",
           "last_error_at", "attention_reason", "logged_in_at", "login_expires_at", "secure_c_ses", "host_c_oses",
           "csesidx", "team_id"]


@pytest.mark.parametrize("state, event", list(itertools.product(STATES, EVENTS)))
def test_every_event_in_every_state_writes_what_the_table_says(make_account, state, event):
    now = timezone.now()
    account = make_account(**_states(now)[state])
    before = {name: getattr(account, name) for name in CHECKED}
    everywhere, by_state = TABLE[event]
    expected = {**before, **{name: value(name, before, now) if callable(value) else value
                             for name, value in {**everywhere, **by_state[state]}.items()}}

    lifecycle.apply(account, EVENTS[event](account, now))

    account.refresh_from_db()
    after = {name: getattr(account, name) for name in CHECKED}
    assert after == expected
    assert account.enabled == (account.status != AccountStatus.DISABLED)  # one truth, two columns


TRANSITIONS = ["enabled", "disabled", "cookies_replaced", "leased", "succeeded", "rate_limited", "login_failed",
               "transient_failure", "test_passed", "test_failed", "cooldown_cleared", "login_refreshed",
               "refresh_failed"]


def test_the_table_covers_every_status_and_every_transition():
    covered = {_states(timezone.now())[state].get("status", AccountStatus.ACTIVE) for state in STATES}
    assert covered == set(AccountStatus.values)
    assert {next(t for t in TRANSITIONS if event.startswith(t)) for event in EVENTS} == set(TRANSITIONS)
    assert all(callable(getattr(lifecycle, name)) for name in TRANSITIONS)


# ---- the change sets themselves --------------------------------------------------------------------

def test_a_guarded_change_alone_writes_nothing_when_its_guard_fails(make_account):
    account = make_account(status=AccountStatus.NEEDS_LOGIN)
    assert lifecycle.apply(account, lifecycle.leased(now=timezone.now())) is False
    assert lifecycle.apply(make_account(), lifecycle.leased(now=timezone.now())) is True


def test_an_event_with_nothing_to_change_runs_no_query(make_account, django_assert_num_queries):
    account = make_account()
    with django_assert_num_queries(0):
        assert lifecycle.apply(account, lifecycle.enabled(account, now=timezone.now())) is False


def test_state_fields_cannot_ride_along_as_plain_fields():
    with pytest.raises(ValueError, match="request_count"):
        lifecycle.cookies_replaced(now=timezone.now()).including(label="x", request_count=0)
    with pytest.raises(ValueError, match="initial"):
        lifecycle.succeeded().initial_values()


def test_the_login_lifetime_setting_sets_the_expected_expiry(settings):
    settings.GEMPOOL_LOGIN_LIFETIME_HOURS = 2
    now = timezone.now()
    assert lifecycle.cookies_replaced(now=now).values["login_expires_at"] == now + timedelta(hours=2)
    given = now + timedelta(minutes=90)
    assert lifecycle.cookies_replaced(now=now, expires_at=given).values["login_expires_at"] == given


def test_the_request_is_at_fault_the_account_is_not_changed():
    from gemini_enterprise.errors import InvalidRequest, PolicyBlocked

    for error in (InvalidRequest("bad file"), PolicyBlocked("armor")):
        assert lifecycle.failed(error=error, streak=0, pool=POOL, now=timezone.now()) is None


def test_reflect_mirrors_the_lease_onto_the_row_as_picked(make_account):
    now = timezone.now()
    account = make_account(status=AccountStatus.COOLING_DOWN, cooldown_until=now, request_count=4)
    lifecycle.LEASE_STAMP.reflect(account, now)
    assert (account.status, account.cooldown_until, account.request_count, account.last_used_at,
            account.ready_at) == ("active", None, 5, now, now)


@pytest.mark.parametrize("status, expected", [
    (AccountStatus.ACTIVE, "active"), (AccountStatus.NEEDS_LOGIN, "needs_login"),
    (AccountStatus.NEEDS_ATTENTION, "needs_attention"), (AccountStatus.DISABLED, "disabled")])
def test_effective_status_and_the_pool_counts_agree(make_account, status, expected):
    from accounts.pool import pool_counts

    account = make_account(status=status, enabled=status != AccountStatus.DISABLED)
    assert lifecycle.effective_status(account) == expected
    assert pool_counts()[expected] == 1


# ---- one writer ------------------------------------------------------------------------------------

STATE_FIELDS = lifecycle.OWNED_FIELDS
# Every package of the project that can touch the database: gemini_enterprise is framework-free (its simulator
# keeps seats of its own, with fields of the same names), tests and bench are not the product.
SOURCE_ROOTS = sorted(path.name for path in Path(ROOT).iterdir()
                      if (path / "__init__.py").exists() and path.name not in {"gemini_enterprise", "tests", "bench"})


def _python_sources():
    for root in SOURCE_ROOTS:
        for path in sorted((Path(ROOT) / root).rglob("*.py")):
            if "migrations" not in path.parts and path != Path(ROOT) / "accounts" / "lifecycle.py":
                yield path


# Writes the check cannot tell from an account's: other models with a field of the same name.
NOT_ACCOUNTS = {"api_key.last_used_at"}  # accounts/services.py stamps an ApiKey


RAW_UPDATE = re.compile(r"update\s+(accounts_account|\{[^}]*table[^}]*\})", re.IGNORECASE)


def _text_of(node: ast.Constant | ast.JoinedStr) -> str:
    """A string literal's text; an f-string's with each {expression} kept as written."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    return "".join(part.value if isinstance(part, ast.Constant) else "{" + ast.unparse(part.value) + "}"
                   for part in node.values)


def state_writes(source: str, *, self_is_account: bool = False) -> list[str]:
    """Writes of account state fields in code that mentions accounts: attribute assignment, setattr,
    keyword arguments of update()/create()-style calls, update_fields lists, and raw UPDATEs of the table.
    `self.x = ...` counts only where `self` is an Account (its model module): elsewhere it is another class."""
    if "account" not in source.lower():
        return []
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [f"{line}: assigns {ast.unparse(part)}" for target in targets for part in ast.walk(target)
                      if isinstance(part, ast.Attribute) and part.attr in STATE_FIELDS
                      and ast.unparse(part) not in NOT_ACCOUNTS
                      and (self_is_account or ast.unparse(part.value) != "self")]
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "setattr" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value in STATE_FIELDS:
                found.append(f"{line}: setattr {node.args[1].value}")
            if name in ("update", "create", "get_or_create", "update_or_create", "bulk_create", "Account"):
                found += [f"{line}: {name}({kw.arg}=...)" for kw in node.keywords if kw.arg in STATE_FIELDS]
            for kw in node.keywords:
                if kw.arg in ("update_fields", "fields", "defaults", "create_defaults"):
                    names = {n.value for n in ast.walk(kw.value) if isinstance(n, ast.Constant)}
                    found += [f"{line}: {kw.arg} names {f}" for f in sorted(names & STATE_FIELDS)]
        if isinstance(node, ast.Constant | ast.JoinedStr) and RAW_UPDATE.search(_text_of(node)):
            found.append(f"{line}: raw UPDATE of accounts_account")
    return found


def test_nothing_but_the_life_cycle_writes_an_accounts_state():
    offenders = {str(path.relative_to(ROOT)): hits for path in _python_sources()
                 if (hits := state_writes(path.read_text(), self_is_account=path.parts[-2:] == ("accounts",
                                                                                             "models.py")))}
    assert offenders == {}


@pytest.mark.parametrize("snippet", [
    "from accounts.models import Account\naccount.status = 'active'",
    "from accounts.models import Account\naccount.request_count += 1",
    "from accounts.models import Account\nsetattr(account, 'cooldown_until', None)",
    "Account.objects.filter(pk=1).update(consecutive_failures=0)",
    "Account.objects.create(team_id='t', enabled=False)",
    "account.save(update_fields=['label', 'ready_at'])",
    "obj.enabled = False  # an account in the admin",
    "self.status = 'x'  # in the model module: see the self_is_account case",
    "api_key.request_count = 0  # only api_key.last_used_at is known not to be an account's",
    "cursor.execute('UPDATE  accounts_account SET x = 1')",
    "sql = f'UPDATE {lifecycle.TABLE} SET {clause} WHERE id = %s'  # account",
    "Account(label='x', login_expires_at=None)",
])
def test_the_one_writer_check_catches_each_kind_of_write(snippet):
    assert state_writes(snippet, self_is_account="self." in snippet)


# ---- no lost update: operators' saves during a burst of leases -------------------------------------

@pytest.mark.django_db(transaction=True)
def test_admin_saves_and_imports_during_a_burst_of_leases_lose_no_count(make_account, admin_client, tmp_path):
    from accounts.config_io import config_export, config_import

    accounts = [make_account() for _ in range(2)]
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict),
           "DJANGO_SECRET_KEY": settings.SECRET_KEY, "GEMPOOL_DATA_DIR": str(settings.DATA_DIR),
           "DJANGO_SETTINGS_MODULE": "gempool_site.settings"}
    stop = tmp_path / "stop"  # the worker leases until the edits below are done: they overlap by construction
    worker = subprocess.Popen([sys.executable, "-m", "tests.accounts.lease_worker", "4", "20", str(stop)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        leasing = Account.objects.filter(pk__in=[a.pk for a in accounts], request_count__gt=0)
        assert wait_until(leasing.exists, timeout=60) is not None, "the lease worker never leased"
        for edit in range(6):
            account = Account.objects.get(pk=accounts[edit % 2].pk)
            response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", {
                "label": f"edited {edit}", "team_id": account.team_id, "csesidx": account.csesidx,
                "user_agent": "", "enabled": "on", "secure_c_ses": "", "host_c_oses": "", "proxy_url": ""})
            assert response.status_code == 302, response.content[:500]
            document = config_export()
            for row_ in document["accounts"]:
                row_["label"] = f"imported {edit}"
            config_import(config=document)
        assert worker.poll() is None, worker.communicate()[1]  # still leasing: the edits overlapped it
        stop.touch()
        out, err = worker.communicate(timeout=240)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    result = json.loads(out)
    assert (result["errors"], result["none"]) == ([], 0)
    counts = Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("request_count", flat=True)
    assert sum(counts) == result["leased"]  # an overwritten count would show as fewer
    assert set(Account.objects.values_list("label", flat=True)) == {"imported 5"}
