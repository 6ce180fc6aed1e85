"""Fixtures shared by the whole suite: personas (staff user, API keys) and seeded pool state."""
from __future__ import annotations

import pytest


@pytest.fixture
def api_key(db):
    """A live chat API key: (record, raw key)."""
    from accounts.services import api_key_create

    return api_key_create(name="test client")


@pytest.fixture
def admin_key(db):
    """An admin API key allowed on /api: (record, raw key)."""
    from accounts.services import api_key_create

    return api_key_create(name="test admin", is_admin=True)


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user(username="operator", password="correct-horse-42",
                                                 is_staff=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def make_account(db):
    """Factory for accounts with unique seats."""
    from accounts.models import Account

    counter = iter(range(1, 10_000))

    def make(**fields):
        n = next(counter)
        defaults = {"label": f"seat {n}", "team_id": f"team-{n}", "csesidx": str(1000 + n),
                    "secure_c_ses": f"ses-cookie-{n}", "host_c_oses": f"oses-cookie-{n}"}
        defaults.update(fields)
        return Account.objects.create(**defaults)

    return make
