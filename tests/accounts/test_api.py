"""The management API (/api): access rules, validation, write-only secrets, account/proxy tests, import/export."""
from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from accounts import services
from accounts.models import Account, AccountStatus, ApiKey, PoolSettings
from accounts.services import api_key_create, api_key_verify
from gemini_enterprise.simulator import SimAccount, SimulatorServer
from models_catalog.models import ModelConfig

pytestmark = pytest.mark.django_db

MARKER = "MARKER-c00kie-7f3a9d"  # a planted secret that must never come back out of a read endpoint

# Every /api route with a harmless body: used to prove none of them lets the wrong caller in.
ROUTES = [
    ("get", "/api/accounts"), ("post", "/api/accounts"),
    ("get", "/api/accounts/{id}"), ("put", "/api/accounts/{id}"), ("patch", "/api/accounts/{id}"),
    ("delete", "/api/accounts/{id}"), ("post", "/api/accounts/{id}/toggle"), ("post", "/api/accounts/{id}/test"),
    ("get", "/api/models"), ("post", "/api/models"), ("get", "/api/models/gemini-x"),
    ("put", "/api/models/gemini-x"), ("delete", "/api/models/gemini-x"),
    ("get", "/api/config"), ("put", "/api/config"), ("post", "/api/config/import"),
    ("get", "/api/config/export"), ("post", "/api/proxy/test"), ("get", "/api/proxy/status"),
    ("get", "/api/keys"), ("post", "/api/keys"), ("post", "/api/keys/1/revoke"), ("get", "/api/dashboard"),
]


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def call(client: Client, method: str, url: str, body=None, **extra):
    if method in ("get", "delete"):
        return getattr(client, method)(url, **extra)
    return getattr(client, method)(url, data=json.dumps(body or {}), content_type="application/json", **extra)


def account_body(**overrides) -> dict:
    body = {"label": "primary", "team_id": "team-new", "csesidx": "424242", "secure_c_ses": "ses-value-1",
            "host_c_oses": "oses-value-1", "user_agent": "", "enabled": True}
    body.update(overrides)
    return body


@pytest.fixture
def account(make_account):
    return make_account(secure_c_ses=MARKER + "-ses", host_c_oses=MARKER + "-oses")


# ---- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_anonymous_callers_get_a_json_refusal(client, account, method, url):
    response = call(client, method, url.format(id=account.pk))
    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")
    assert "message" in response.json()["error"]
    assert Account.objects.filter(pk=account.pk, enabled=True).exists()


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_a_logged_in_user_without_staff_is_refused(client, django_user_model, account, method, url):
    client.force_login(django_user_model.objects.create_user(username="viewer", password="pw-12345678"))
    assert call(client, method, url.format(id=account.pk)).status_code == 403


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_a_chat_key_is_not_an_admin_key(client, api_key, account, method, url):
    assert call(client, method, url.format(id=account.pk), **bearer(api_key[1])).status_code in (401, 403)


@pytest.mark.parametrize("url", ["/api/accounts", "/api/models", "/api/config", "/api/proxy/status",
                                 "/api/keys", "/api/dashboard"])
def test_an_admin_key_is_accepted(client, admin_key, url):
    assert client.get(url, **bearer(admin_key[1])).status_code == 200


def test_session_writes_need_the_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = call(client, "post", "/api/accounts", account_body())
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    client.get("/api/accounts")  # a safe request is fine without a token
    assert not Account.objects.exists()


def test_cors_headers_are_never_sent_for_the_management_api(staff_client):
    response = staff_client.get("/api/accounts", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response


# ---- accounts -------------------------------------------------------------------------------


def test_a_created_account_shows_its_secrets_masked(staff_client):
    response = call(staff_client, "post", "/api/accounts", account_body(secure_c_ses=MARKER))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "active" and data["team_id"] == "team-new"
    assert MARKER not in response.content.decode()
    assert data["secure_c_ses"].startswith("••••")
    assert Account.objects.get(pk=data["id"]).secure_c_ses == MARKER


def test_a_disabled_new_account_starts_disabled(staff_client):
    data = call(staff_client, "post", "/api/accounts", account_body(enabled=False)).json()
    assert data["status"] == "disabled"


def test_a_bad_account_is_a_400_with_a_message_per_field(staff_client):
    response = call(staff_client, "post", "/api/accounts",
                    {"team_id": "", "csesidx": "1", "proxy_url": "ftp://nope", "enabled": "maybe"})
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) >= {"team_id", "secure_c_ses", "proxy_url", "enabled"}
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_duplicate_seat_is_refused(staff_client, make_account):
    make_account(team_id="team-new", csesidx="424242")
    response = call(staff_client, "post", "/api/accounts", account_body())
    assert response.status_code == 400
    assert Account.objects.count() == 1


def test_a_masked_value_cannot_become_a_new_accounts_cookie(staff_client):
    response = call(staff_client, "post", "/api/accounts", account_body(secure_c_ses="•••••••• (12 chars)"))
    assert response.status_code == 400
    assert "secure_c_ses" in response.json()["error"]["fields"]


def test_list_and_detail_never_contain_a_stored_cookie(staff_client, account, make_account):
    make_account(proxy_url=f"http://user:{MARKER}@proxy.local:3128")
    for url in ("/api/accounts", f"/api/accounts/{account.pk}"):
        body = staff_client.get(url).content.decode()
        assert MARKER not in body
        assert "proxy.local:3128" in staff_client.get("/api/accounts").content.decode()


def test_a_put_without_secrets_keeps_the_stored_ones(staff_client, account):
    body = account_body(team_id=account.team_id, csesidx=account.csesidx, label="renamed")
    del body["secure_c_ses"], body["host_c_oses"]
    response = call(staff_client, "put", f"/api/accounts/{account.pk}", body)
    assert response.status_code == 200, response.content
    account.refresh_from_db()
    assert account.label == "renamed"
    assert account.secure_c_ses == MARKER + "-ses" and account.host_c_oses == MARKER + "-oses"


def test_sending_back_the_masked_display_keeps_the_secret(staff_client, account):
    shown = staff_client.get(f"/api/accounts/{account.pk}").json()
    shown["label"] = "edited"
    call(staff_client, "put", f"/api/accounts/{account.pk}", shown)
    account.refresh_from_db()
    assert (account.label, account.secure_c_ses) == ("edited", MARKER + "-ses")


def test_new_cookies_give_a_needs_login_account_another_chance(staff_client, account):
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.NEEDS_LOGIN, last_error_kind="login_required")
    data = call(staff_client, "patch", f"/api/accounts/{account.pk}", {"secure_c_ses": "fresh"}).json()
    assert data["status"] == "active"


def test_patch_changes_only_what_is_sent(staff_client, account):
    Account.objects.filter(pk=account.pk).update(request_count=41)
    call(staff_client, "patch", f"/api/accounts/{account.pk}", {"user_agent": "UA/2"})
    account.refresh_from_db()
    assert (account.user_agent, account.request_count, account.label) == ("UA/2", 41, account.label)


def test_a_deleted_account_is_a_404_to_reads_and_toggles(staff_client, account):
    assert staff_client.delete(f"/api/accounts/{account.pk}").status_code == 204
    response = staff_client.get(f"/api/accounts/{account.pk}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert staff_client.post(f"/api/accounts/{account.pk}/toggle").status_code == 404


def test_toggle_disables_and_enables(staff_client, account):
    first = staff_client.post(f"/api/accounts/{account.pk}/toggle").json()
    assert (first["enabled"], first["status"]) == (False, "disabled")
    second = staff_client.post(f"/api/accounts/{account.pk}/toggle").json()
    assert (second["enabled"], second["status"]) == (True, "active")


# ---- account test against the simulator -----------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    server = SimulatorServer(port=0, fragment_delay=0.001, fragments=2, thought_fragments=0).start()
    yield server
    server.stop()


@pytest.fixture
def upstream(sim, settings):
    from accounts.upstream import reset_client

    settings.GEMPOOL_AUTH_URL = settings.GEMPOOL_API_URL = sim.url
    reset_client()
    yield sim
    sim.clear_faults()
    reset_client()


def test_a_passing_test_brings_a_needs_login_account_back(staff_client, upstream, account):
    upstream.add_account(SimAccount(csesidx=account.csesidx, secure_c_ses=account.secure_c_ses,
                                    team_id=account.team_id, host_c_oses=account.host_c_oses))
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.NEEDS_LOGIN, last_error_kind="login_required")
    response = call(staff_client, "post", f"/api/accounts/{account.pk}/test", {"chat": True})
    data = response.json()
    assert response.status_code == 200 and data["ok"] is True, data
    assert data["status"] == "active" and data["error"] is None and data["latency_ms"] >= 0
    assert data["reply"]
    assert data["account"]["status"] == "active" and data["account"]["last_error"] is None
    assert MARKER not in response.content.decode()


def test_dead_cookies_mark_the_account_as_needing_login(staff_client, upstream, account):
    # Cookies the simulator never issued: getoxsrf refuses them.
    account.secure_c_ses = MARKER + "-expired"
    account.save()
    data = call(staff_client, "post", f"/api/accounts/{account.pk}/test").json()
    assert data["ok"] is False and data["status"] == "needs_login"
    assert data["error"]["kind"] == "login_required" and data["error"]["message"]
    account.refresh_from_db()
    assert account.status == AccountStatus.NEEDS_LOGIN and account.last_error_kind == "login_required"


def test_a_transient_failure_is_recorded_without_changing_the_status(staff_client, upstream, account):
    upstream.add_account(SimAccount(csesidx=account.csesidx, secure_c_ses=account.secure_c_ses,
                                    team_id=account.team_id, host_c_oses=account.host_c_oses))
    upstream.add_fault("503", csesidx=account.csesidx, count=5, endpoint="getoxsrf")
    data = call(staff_client, "post", f"/api/accounts/{account.pk}/test").json()
    assert data["ok"] is False and data["error"]["kind"] == "unavailable" and data["status"] == "active"
    account.refresh_from_db()
    assert account.last_error_kind == "unavailable" and account.consecutive_failures == 1


# ---- pool config ----------------------------------------------------------------------------


def test_config_shows_the_proxy_masked_and_keeps_it_when_omitted(staff_client):
    response = call(staff_client, "put", "/api/config",
                    {"proxy": f"http://bob:{MARKER}@93.184.215.14:8080", "proxy_enabled": True,
                     "cooldown_base_seconds": 30})
    assert response.status_code == 200, response.content
    assert MARKER not in response.content.decode()
    assert response.json()["proxy"] == "http://••••:••••@93.184.215.14:8080"
    call(staff_client, "put", "/api/config", {"image_base_url": "https://img.example"})
    pool = PoolSettings.load()
    assert pool.proxy_url == f"http://bob:{MARKER}@93.184.215.14:8080" and pool.image_base_url == "https://img.example"
    assert pool.cooldown_base_seconds == 30
    assert MARKER not in staff_client.get("/api/config").content.decode()
    assert MARKER not in staff_client.get("/api/proxy/status").content.decode()


@pytest.mark.parametrize(("body", "field"), [
    ({"proxy_enabled": True, "proxy": ""}, "proxy"),
    ({"proxy": "not a url"}, "proxy"),
    ({"cooldown_base_seconds": 500, "cooldown_max_seconds": 100}, "cooldown_base_seconds"),
    ({"cooldown_max_seconds": 0}, "cooldown_max_seconds"),
    ({"image_base_url": "nope"}, "image_base_url"),
])
def test_a_bad_pool_setting_is_a_400_naming_its_field(staff_client, body, field):
    response = call(staff_client, "put", "/api/config", body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


# ---- import / export ------------------------------------------------------------------------


def config_document(**overrides) -> dict:
    document = {
        "proxy": "", "proxy_enabled": False,
        "accounts": [{"team_id": "t-imp", "secure_c_ses": "imported-ses", "host_c_oses": "", "csesidx": "77",
                      "user_agent": "", "available": True}],
        "models": [{"id": "imported-model", "name": "Imported", "description": "", "context_length": 1000,
                    "max_tokens": 100}],
    }
    document.update(overrides)
    return document


def test_a_json_body_imports_accounts_and_models(staff_client):
    response = call(staff_client, "post", "/api/config/import", config_document())
    assert response.status_code == 200, response.content
    assert response.json()["accounts_created"] == 1
    assert Account.objects.get(team_id="t-imp").secure_c_ses == "imported-ses"
    assert ModelConfig.objects.filter(id="imported-model").exists()


def test_a_dry_run_of_an_uploaded_file_counts_but_creates_nothing(staff_client):
    upload = io.BytesIO(json.dumps(config_document()).encode())
    upload.name = "business_gemini_session.json"
    response = staff_client.post("/api/config/import?dry_run=1", {"file": upload})
    assert response.status_code == 200, response.content
    assert response.json()["dry_run"] is True and response.json()["accounts_created"] == 1
    assert not Account.objects.filter(team_id="t-imp").exists()


def test_a_bad_import_lists_every_problem_and_changes_nothing(staff_client, account):
    before = (Account.objects.count(), ModelConfig.objects.count(), PoolSettings.load().proxy_url)
    document = config_document(proxy="http://new-proxy:1", accounts=[
        {"team_id": account.team_id, "csesidx": account.csesidx, "secure_c_ses": "overwrite-attempt"},
        {"team_id": "t2", "csesidx": "2"},
    ], models=[{"id": "bad/id"}])
    response = call(staff_client, "post", "/api/config/import", document)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    assert any(p.startswith("accounts[1].secure_c_ses") for p in error["problems"])
    assert any(p.startswith("models[0].id") for p in error["problems"])
    account.refresh_from_db()
    assert account.secure_c_ses == MARKER + "-ses"
    assert (Account.objects.count(), ModelConfig.objects.count(), PoolSettings.load().proxy_url) == before


def test_invalid_json_is_reported_with_its_position(staff_client):
    response = staff_client.post("/api/config/import", data=b'{"accounts": [', content_type="application/json")
    assert response.status_code == 400
    assert "line 1" in response.json()["error"]["problems"][0]


def test_a_multipart_import_without_the_file_field_is_400(staff_client):
    response = staff_client.post("/api/config/import", {"other": "x"})
    assert response.status_code == 400 and "file" in response.json()["error"]["problems"][0]


def test_export_gives_a_staff_user_the_secrets_and_says_so(staff_client, account):
    response = staff_client.get("/api/config/export")
    assert response.status_code == 200
    assert response["X-Gempool-Contains-Secrets"] == "true"
    assert "attachment" in response["Content-Disposition"] and response["Cache-Control"] == "no-store"
    document = json.loads(response.content)
    assert document["accounts"][0]["secure_c_ses"] == MARKER + "-ses"
    # The export is importable as it is: the round trip changes nothing.
    assert call(staff_client, "post", "/api/config/import", document).json()["accounts_updated"] == 1
    assert staff_client.get("/api/config/export").content == response.content


def test_export_is_refused_to_an_admin_key(client, admin_key, account):
    response = client.get("/api/config/export", **bearer(admin_key[1]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "export_needs_staff_user"
    assert MARKER not in response.content.decode()


# ---- proxy ----------------------------------------------------------------------------------


class _Proxy(BaseHTTPRequestHandler):
    """Answers every request itself, remembering the request line (a forward proxy sees absolute URLs)."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Proxy.seen.append(self.requestline)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_proxy(settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True  # the test proxy listens on loopback
    settings.GEMPOOL_PROXY_TEST_URL = "http://upstream.invalid/probe"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_proxy_test_goes_through_the_stored_proxy_and_remembers_the_result(staff_client, http_proxy):
    PoolSettings.objects.update_or_create(pk=1, defaults={"proxy_url": http_proxy, "proxy_enabled": True})
    response = call(staff_client, "post", "/api/proxy/test")
    data = response.json()
    assert data["reachable"] is True and data["via"] == "proxy" and data["status_code"] == 204
    assert any("http://upstream.invalid/probe" in line for line in _Proxy.seen)
    status = staff_client.get("/api/proxy/status").json()
    assert status["in_use"] is True and status["last_test"]["reachable"] is True
    assert status["test_url"] == "http://upstream.invalid/probe"


def test_an_unreachable_proxy_is_reported_without_its_password(staff_client, settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True
    proxy = f"http://user:{MARKER}@127.0.0.1:9"
    PoolSettings.objects.update_or_create(pk=1, defaults={"proxy_url": proxy})
    response = call(staff_client, "post", "/api/proxy/test", {"timeout": 2})
    data = response.json()
    assert data["reachable"] is False and data["error"]
    assert MARKER not in response.content.decode()
    status = staff_client.get("/api/proxy/status")
    assert status.json()["last_test"]["reachable"] is False
    assert MARKER not in status.content.decode()


def test_a_candidate_proxy_is_tested_without_touching_the_stored_status(staff_client, http_proxy):
    response = call(staff_client, "post", "/api/proxy/test", {"proxy": http_proxy})
    assert response.json()["reachable"] is True
    assert staff_client.get("/api/proxy/status").json()["last_test"] is None


def test_proxy_test_validates_its_input(staff_client):
    response = call(staff_client, "post", "/api/proxy/test", {"proxy": "gopher://x", "timeout": 99})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"proxy", "timeout"}


# ---- API keys -------------------------------------------------------------------------------


def test_a_created_key_is_shown_once_and_can_be_revoked(staff_client):
    response = call(staff_client, "post", "/api/keys", {"name": "ci", "is_admin": False})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    created = response.json()
    assert api_key_verify(raw=created["key"]).pk == created["id"]
    listing = staff_client.get("/api/keys").content.decode()
    assert created["key"] not in listing and created["prefix"] in listing
    revoked = staff_client.post(f"/api/keys/{created['id']}/revoke").json()
    assert revoked["revoked"] is True and api_key_verify(raw=created["key"]) is None


def test_requests_that_read_a_key_while_its_use_is_being_stamped_do_not_stamp_it_again(monkeypatch, settings):
    settings.GEMPOOL_HOT_ROWS_SECONDS = 60  # the worker's requests share one cached row of the key
    _, raw = api_key_create(name="burst")
    stamps = []
    execute = services.rawsql.execute

    def stamp_while_another_request_reads(sql, params):
        stamps.append(sql)
        if len(stamps) == 1:  # the write waits for the database: another request reads the key meanwhile
            assert api_key_verify(raw=raw) is not None
        return execute(sql, params)

    monkeypatch.setattr(services.rawsql, "execute", stamp_while_another_request_reads)
    assert api_key_verify(raw=raw) is not None
    assert len(stamps) == 1 and "last_used_at" in stamps[0]
    assert ApiKey.objects.get(name="burst").last_used_at is not None


def test_a_key_needs_a_name(staff_client):
    response = call(staff_client, "post", "/api/keys", {"name": "  "})
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
    assert not ApiKey.objects.exists()
