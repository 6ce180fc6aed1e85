"""Proxies: the test fetches one fixed URL through a proxy only; proxy hosts follow the image-URL address
policy; every proxy change records who made it."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from accounts.models import Account, PoolSettings

pytestmark = pytest.mark.django_db
INTERNAL = ["http://127.0.0.1:3128", "http://10.1.2.3:8080", "socks5://[::1]:1080", "http://169.254.169.254:80",
            "http://metadata.google.internal:80", "http://192.168.1.1:3128"]
PUBLIC = "http://93.184.215.14:3128"


class _Target(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Target.hits.append(self.requestline)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def internal_target(settings):
    """An 'internal service' on loopback that must never be fetched directly by the proxy test."""
    _Target.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _admin(admin_key) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {admin_key[1]}"}


def _json(client, method: str, path: str, body: dict, admin_key):
    return getattr(client, method)(path, json.dumps(body), content_type="application/json", **_admin(admin_key))


def test_the_proxy_test_never_fetches_directly(client, admin_key, internal_target, settings):
    settings.GEMPOOL_PROXY_TEST_URL = internal_target
    response = _json(client, "post", "/api/proxy/test", {}, admin_key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_proxy"
    assert _Target.hits == []


def test_the_proxy_test_url_cannot_be_chosen(client, admin_key, internal_target, settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True
    response = _json(client, "post", "/api/proxy/test", {"url": "http://169.254.169.254/latest/meta-data/",
                                                         "proxy": "http://127.0.0.1:9"}, admin_key)
    assert response.status_code == 400 and response.json()["error"]["param"] == "url"


def test_the_proxy_test_fetches_the_configured_url_through_the_proxy(client, admin_key, internal_target, settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True
    settings.GEMPOOL_PROXY_TEST_URL = "http://upstream.invalid/probe"
    proxy = internal_target.rstrip("/")  # the handler answers any request line, like a forward proxy
    data = _json(client, "post", "/api/proxy/test", {"proxy": proxy}, admin_key).json()
    assert data["via"] == "proxy" and data["url"] == "http://upstream.invalid/probe" and data["reachable"]
    assert _Target.hits == ["GET http://upstream.invalid/probe HTTP/1.1"]


@pytest.mark.parametrize("proxy", INTERNAL)
def test_internal_proxy_hosts_are_refused_everywhere(client, admin_key, make_account, proxy):
    account = make_account()
    attempts = [
        _json(client, "put", "/api/config", {"proxy": proxy}, admin_key),
        _json(client, "post", "/api/accounts", {"team_id": "t", "csesidx": "9", "secure_c_ses": "c",
                                                "proxy_url": proxy}, admin_key),
        _json(client, "patch", f"/api/accounts/{account.pk}", {"proxy_url": proxy}, admin_key),
        _json(client, "post", "/api/config/import", {"proxy": proxy}, admin_key),
        _json(client, "post", "/api/proxy/test", {"proxy": proxy}, admin_key),
    ]
    for response in attempts:
        assert response.status_code == 400, response.content
        assert "unknown or not a public address" in response.content.decode()
    assert Account.objects.get(pk=account.pk).proxy_url == ""
    assert PoolSettings.load().proxy_url == ""


def test_operators_may_allow_private_proxies_but_never_metadata(client, admin_key, settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True
    assert _json(client, "put", "/api/config", {"proxy": "http://127.0.0.1:3128"}, admin_key).status_code == 200
    for proxy in ("http://169.254.169.254:80", "http://metadata.google.internal:80"):
        assert _json(client, "put", "/api/config", {"proxy": proxy}, admin_key).status_code == 400


def test_a_stored_internal_proxy_is_not_tested(client, admin_key, internal_target):
    PoolSettings.objects.update_or_create(pk=1, defaults={"proxy_url": internal_target.rstrip("/")})
    response = _json(client, "post", "/api/proxy/test", {}, admin_key)
    assert response.status_code == 400 and response.json()["error"]["code"] == "proxy_refused"
    assert _Target.hits == []


def test_the_admin_form_applies_the_same_policy(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-root-1"))
    response = client.post("/admin/accounts/account/add/", {"team_id": "t", "csesidx": "1", "secure_c_ses": "c",
                                                            "proxy_url": "http://10.0.0.5:3128", "enabled": "on"})
    assert response.status_code == 200 and "unknown or not a public address" in response.content.decode()
    assert not Account.objects.exists()


def test_every_proxy_change_records_who_made_it(admin_key, staff_client, make_account, caplog):
    client = Client()  # staff_client holds a session, which would win over the key
    caplog.set_level(logging.INFO, logger="accounts.proxies")
    account = make_account()
    prefix = admin_key[0].prefix
    assert _json(client, "patch", f"/api/accounts/{account.pk}", {"proxy_url": PUBLIC}, admin_key).status_code == 200
    account.refresh_from_db()
    assert account.proxy_changed_by == f"key:{prefix}" and account.proxy_changed_at is not None
    assert staff_client.put("/api/config", {"proxy": PUBLIC}, content_type="application/json").status_code == 200
    pool = PoolSettings.load()
    assert pool.proxy_changed_by == "user:operator"
    assert staff_client.get("/api/config").json()["proxy_changed_by"] == "user:operator"
    assert _json(client, "post", "/api/config/import", {"proxy": "http://93.184.215.15:3128"},
                 admin_key).status_code == 200
    assert PoolSettings.load().proxy_changed_by == f"key:{prefix}"
    changes = [r for r in caplog.records if r.getMessage() == "proxy changed"]
    assert [r.by for r in changes] == [f"key:{prefix}", "user:operator", f"key:{prefix}"]
    assert all(r.proxy_host.startswith("93.184.215.") for r in changes)


def test_an_admin_form_proxy_change_records_the_user(client, django_user_model, make_account):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-root-1"))
    account = make_account()
    response = client.post(f"/admin/accounts/account/{account.pk}/change/", {
        "label": account.label, "team_id": account.team_id, "csesidx": account.csesidx, "secure_c_ses": "",
        "host_c_oses": "", "user_agent": "", "proxy_url": PUBLIC, "enabled": "on"})
    assert response.status_code == 302, response.content[:500]
    account.refresh_from_db()
    assert account.proxy_url == PUBLIC and account.proxy_changed_by == "user:root"
