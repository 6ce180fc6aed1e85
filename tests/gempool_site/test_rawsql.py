"""ModelRows: plain SQL on the hot path must yield exactly what the ORM would."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, AccountStatus, PoolSettings
from gempool_site import rawsql
from models_catalog.models import ModelConfig

pytestmark = pytest.mark.django_db

ACCOUNTS = rawsql.ModelRows(Account)


def _field_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_rows_match_the_orm_field_by_field(make_account):
    stamp = timezone.now() - timedelta(minutes=3)
    account = make_account(proxy_url="http://user:pw@127.0.0.1:3128", status=AccountStatus.COOLING_DOWN,
                           cooldown_until=stamp, last_used_at=stamp, enabled=False)
    fetched = ACCOUNTS.fetch_one("id = %s", [account.pk])
    assert _field_values(fetched) == _field_values(Account.objects.get(pk=account.pk))
    assert fetched.secure_c_ses == account.secure_c_ses  # the encrypted column comes back decrypted
    assert fetched.enabled is False and fetched.cooldown_until == stamp
    assert fetched._state.adding is False and fetched._state.db == "default"


def test_decimal_and_boolean_columns_convert_like_the_orm():
    ModelConfig.objects.create(id="priced", price_per_1k_tokens=Decimal("0.012500"), web_grounding=False)
    fetched = rawsql.ModelRows(ModelConfig).fetch_one("id = %s", ["priced"])
    assert fetched.price_per_1k_tokens == Decimal("0.012500")
    assert fetched.web_grounding is False and fetched.enabled is True


def test_no_match_is_none(make_account):
    make_account()
    assert ACCOUNTS.fetch_one("id = %s", [-1]) is None


def test_datetime_parameters_compare_as_the_database_stores_them(make_account):
    now = timezone.now()
    make_account(cooldown_until=now + timedelta(seconds=30))
    past = make_account(cooldown_until=now - timedelta(seconds=30))
    found = ACCOUNTS.fetch_one("cooldown_until <= %s", [rawsql.db_datetime(now)])
    assert found.pk == past.pk


def test_execute_reports_changed_rows(make_account):
    account = make_account()
    assert rawsql.execute("UPDATE accounts_account SET success_count = success_count + 2 WHERE id = %s",
                          [account.pk]) == 1
    account.refresh_from_db()
    assert account.success_count == 2


def test_pool_settings_load_creates_the_row_once():
    PoolSettings.objects.all().delete()
    first = PoolSettings.load()
    assert first.pk == 1 and PoolSettings.objects.count() == 1
    first.unavailable_rest_seconds = 99
    first.save()
    assert PoolSettings.load().unavailable_rest_seconds == 99
