"""Inputs that used to end as unhandled 500s: each is a 400 in its API's envelope, before any upstream call."""
from __future__ import annotations

import json

import pytest

from accounts.models import PoolSettings

pytestmark = pytest.mark.django_db
BAD_PROXY = "http://[::1"
DEEP = b"[" * 100_000 + b"]" * 100_000


def _admin(admin_key) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {admin_key[1]}"}


def _assert_envelope_400(response, needle: str = "") -> dict:
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and needle in json.dumps(error)
    return error


def test_a_malformed_ipv6_proxy_is_a_400_on_the_pool_settings(client, admin_key):
    _assert_envelope_400(client.put("/api/config", {"proxy": BAD_PROXY}, content_type="application/json",
                                    **_admin(admin_key)), "malformed")


def test_a_malformed_ipv6_proxy_is_a_400_on_accounts(client, admin_key, make_account):
    account = make_account()
    _assert_envelope_400(client.post("/api/accounts", {"team_id": "t", "csesidx": "1", "secure_c_ses": "c",
                                                       "proxy_url": BAD_PROXY},
                                     content_type="application/json", **_admin(admin_key)), "malformed")
    _assert_envelope_400(client.patch(f"/api/accounts/{account.pk}", {"proxy_url": BAD_PROXY},
                                      content_type="application/json", **_admin(admin_key)), "malformed")


def test_a_malformed_ipv6_proxy_is_a_400_in_an_import_and_changes_nothing(client, admin_key):
    document = {"proxy": BAD_PROXY, "accounts": [{"team_id": "t", "csesidx": "1", "secure_c_ses": "c",
                                                  "proxy": BAD_PROXY}]}
    error = _assert_envelope_400(client.post("/api/config/import", json.dumps(document),
                                             content_type="application/json", **_admin(admin_key)), "malformed")
    assert {"proxy: ", "accounts[0].proxy: "} <= {problem[:len(problem.split(":")[0]) + 2]
                                                 for problem in error["problems"]}
    assert PoolSettings.load().proxy_url == ""


def test_a_malformed_ipv6_proxy_is_a_400_on_the_proxy_test(client, admin_key):
    _assert_envelope_400(client.post("/api/proxy/test", {"proxy": BAD_PROXY}, content_type="application/json",
                                     **_admin(admin_key)), "malformed")


def test_deeply_nested_json_is_a_400_on_v1(client, api_key):
    response = client.post("/v1/chat/completions", DEEP, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert _assert_envelope_400(response, "nested too deeply")["code"] == "invalid_json"


@pytest.mark.parametrize("body,content_type,needle", [
    (b'{"model": "m", "temperature": NaN}', "application/json", "not JSON compliant"),
    (b'{"model": "m", "messages": "\xff"}', "application/json", "JSON parse error"),
    (b'{"model": "m"}', "application/json; charset=bz2_codec", "Unsupported charset"),
    (b'{"model": "m",}', "application/json", "JSON parse error"),
])
def test_json_that_is_not_valid_text_is_a_400_on_v1(client, api_key, body, content_type, needle):
    response = client.generic("POST", "/v1/chat/completions", body, content_type=content_type,
                              HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert _assert_envelope_400(response, needle)["code"] == "invalid_json"


def test_deeply_nested_json_is_a_400_on_the_management_api(client, admin_key):
    _assert_envelope_400(client.post("/api/accounts", DEEP, content_type="application/json",
                                     **_admin(admin_key)), "nested too deeply")
    _assert_envelope_400(client.post("/api/config/import", DEEP, content_type="application/json",
                                     **_admin(admin_key)), "nested too deeply")


def test_a_lone_surrogate_in_chat_content_is_refused_before_the_upstream_is_called(client, api_key, sim,
                                                                                   pool_account,
                                                                                   upstream_settings, catalogue):
    pool_account()
    body = b'{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}'
    response = client.post("/v1/chat/completions", body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert _assert_envelope_400(response, "surrogate")["code"] == "invalid_json"
    assert sim.stats()["requests"] == {}


def test_a_paired_surrogate_escape_is_fine(client, api_key):
    body = b'{"model": "no-such-model", "messages": [{"role": "user", "content": "smile \\ud83d\\ude00"}]}'
    response = client.post("/v1/chat/completions", body, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert response.status_code == 404  # parsed fine; only the model is unknown


def test_a_lone_surrogate_in_an_imported_config_is_refused(client, admin_key):
    body = b'{"accounts": [{"team_id": "t", "csesidx": "1", "secure_c_ses": "\\udfff"}]}'
    _assert_envelope_400(client.post("/api/config/import", body, content_type="application/json",
                                     **_admin(admin_key)), "surrogate")
