"""releases_connections: database work gives this thread's connections back however it ends."""
from __future__ import annotations

import pytest
from django.db import connection, transaction

from accounts.models import Account
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
