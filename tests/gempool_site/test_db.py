"""releases_connections: database work gives this thread's connections back however it ends."""
from __future__ import annotations

import pytest
from django.db import connection, connections, transaction

from accounts.models import Account
from gempool_site import db
from gempool_site.db import releases_connections

pytestmark = pytest.mark.django_db(transaction=True)


@releases_connections
def _count_accounts(*, fail: bool = False) -> int:
    count = Account.objects.count()
    if fail:
        raise LookupError("after the query")
    return count


def test_the_connection_is_given_back_after_the_work():
    assert _count_accounts() == 0
    assert connection.connection is None


def test_the_connection_is_given_back_when_the_work_fails():
    with pytest.raises(LookupError):
        _count_accounts(fail=True)
    assert connection.connection is None


def test_a_connection_inside_a_transaction_is_left_alone():
    with transaction.atomic():
        _count_accounts()
        assert connection.connection is not None  # closing it would roll the transaction back


def test_outside_gevent_the_thread_keeps_its_connection_object_for_the_next_query():
    wrapper = connections["default"]
    _count_accounts()
    assert connections["default"] is wrapper


def test_under_gevent_the_greenlet_drops_its_connection_objects_and_a_later_query_builds_new_ones(monkeypatch):
    monkeypatch.setattr(db, "under_gevent", lambda: True)
    wrapper = connections["default"]
    _count_accounts()
    assert connections.all(initialized_only=True) == []  # nothing of this greenlet's left to hold memory
    assert wrapper.connection is None  # given back before it was dropped
    assert Account.objects.count() == 0
    assert connections["default"] is not wrapper


def test_under_gevent_a_connection_inside_a_transaction_is_kept_whole(monkeypatch):
    monkeypatch.setattr(db, "under_gevent", lambda: True)
    with transaction.atomic():
        wrapper = connections["default"]
        _count_accounts()
        assert connections["default"] is wrapper and wrapper.connection is not None
