"""A partial config file changes what it names and nothing else: the pool proxy is never silently cleared."""
from __future__ import annotations

import json

import pytest

from accounts.models import PoolSettings

pytestmark = pytest.mark.django_db
PROXY = "http://proxy.example:3128"


@pytest.fixture
def proxied_pool(db):
    PoolSettings.objects.update_or_create(pk=1, defaults={"proxy_url": PROXY, "proxy_enabled": True,
                                                          "cooldown_base_seconds": 30})


def _import(client, admin_key, document: dict):
    return client.post("/api/config/import", json.dumps(document), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}")


def test_an_accounts_only_import_keeps_the_proxy_on(client, admin_key, proxied_pool):
    assert _import(client, admin_key, {"accounts": []}).status_code == 200
    pool = PoolSettings.load()
    assert (pool.proxy_url, pool.proxy_enabled, pool.cooldown_base_seconds) == (PROXY, True, 30)


def test_each_named_setting_changes_alone(client, admin_key, proxied_pool):
    assert _import(client, admin_key, {"proxy_enabled": False}).status_code == 200
    pool = PoolSettings.load()
    assert (pool.proxy_url, pool.proxy_enabled) == (PROXY, False)
    assert _import(client, admin_key, {"proxy_enabled": True}).status_code == 200  # the stored proxy counts
    assert _import(client, admin_key, {"proxy": ""}).status_code == 400  # enabled, so it cannot go blank
    assert _import(client, admin_key, {"proxy": "", "proxy_enabled": False}).status_code == 200
    assert PoolSettings.load().proxy_url == ""


def test_enabling_a_proxy_that_is_nowhere_is_refused(client, admin_key):
    response = _import(client, admin_key, {"proxy_enabled": True})
    assert response.status_code == 400 and "no proxy is set" in response.json()["error"]["message"]
