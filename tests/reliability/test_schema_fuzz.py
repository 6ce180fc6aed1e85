"""schemathesis over the project's own OpenAPI schema (/api/schema/): no 500s, every error in the envelope.

Runs in-process against the WSGI application (the same code gunicorn serves), authenticated with an
admin API key. Left out: POST /api/proxy/test, POST /api/accounts/{id}/test and POST /api/accounts/bulk, which
call whatever URL or proxy the generated data names (outbound traffic to arbitrary hosts). /v1/chat/completions runs
against the simulator, so valid bodies exercise the whole chat path.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gempool_site.wsgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]

# The suite's runs draw the same examples every time, so its result depends on the code alone; set
# GEMPOOL_FUZZ_EXPLORE=1 to draw new ones (more of them) and look for inputs nobody has tried yet.
EXPLORE = os.environ.get("GEMPOOL_FUZZ_EXPLORE") == "1"
EXAMPLES_PER_OPERATION = 60 if EXPLORE else 12
# POST /api/accounts/bulk too: its "test" action calls upstream through the accounts' own proxies.
OUTBOUND = {("POST", "/api/proxy/test"), ("POST", "/api/accounts/{id}/test"), ("POST", "/api/accounts/bulk")}
ENVELOPE_KEYS = {"message", "type", "param", "code"}
ANTHROPIC_ENVELOPE_KEYS = {"type", "message"}  # under /v1/messages: {"type": "error", "error": {...}}


@pytest.fixture
def headers(admin_key):
    return {"Authorization": f"Bearer {admin_key[1]}"}


@pytest.fixture
def api_schema(headers):
    return schemathesis.openapi.from_wsgi("/api/schema/", application, headers=headers)


def test_the_schema_is_openapi_3_and_covers_v1_and_api(api_schema):
    raw = api_schema.raw_schema
    assert raw["openapi"].startswith("3.")
    paths = set(raw["paths"])
    assert {"/v1/chat/completions", "/v1/responses", "/v1/responses/{response_id}", "/v1/models", "/v1/files",
            "/v1/messages", "/v1/messages/count_tokens", "/v1/images/generations", "/v1/images/edits",
            "/api/accounts", "/api/config/import"} <= paths
    chat = raw["paths"]["/v1/chat/completions"]["post"]
    assert "requestBody" in chat and {"apiKey": []} in chat["security"]
    responses = raw["paths"]["/v1/responses"]["post"]
    assert "requestBody" in responses and {"apiKey": []} in responses["security"]
    assert set(raw["paths"]["/v1/responses/{response_id}"]) >= {"get", "delete"}
    body = chat["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert body["tools"]["items"]["properties"]["type"]["enum"] == ["function"]
    assert {"tool_calls", "tool_call_id"} <= set(body["messages"]["items"]["properties"])
    assert body["tool_choice"]["oneOf"][0]["enum"] == ["none", "auto", "required"]
    assert body["parallel_tool_calls"]["type"] == "boolean" and body["model"]["maxLength"] == 200
    schemes = raw["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}


def _operations(api_schema, prefix: str) -> list:
    operations = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(prefix) and (operation.method.upper(), operation.path) not in OUTBOUND:
            operations.append(operation)
    assert operations
    return operations


def _check(operation, case, response) -> None:
    where = f"{operation.method.upper()} {operation.path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code != 500, where
    if response.status_code >= 400:
        content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
        assert content_type[0].startswith("application/json"), where
        body = response.json()
        keys = ANTHROPIC_ENVELOPE_KEYS if operation.path.startswith("/v1/messages") else ENVELOPE_KEYS
        assert isinstance(body, dict) and keys <= set(body.get("error") or {}), where
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], where
        if operation.path.startswith("/v1/messages"):
            assert body["type"] == "error", where


def _fuzz_one(operation, headers: dict, calls: list) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=not EXPLORE,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), authenticated=st.sampled_from([True, True, True, False]))
    def run(case, authenticated):
        response = case.call(headers=headers if authenticated else {})
        calls.append(response.status_code)
        _check(operation, case, response)

    run()


def _fuzz(operations, headers) -> int:
    calls: list[int] = []
    for operation in operations:
        _fuzz_one(operation, headers, calls)
    return len(calls)


@pytest.fixture
def simulated_upstream(upstream_settings, pool_account):
    """One seat on the simulator, so a valid chat request is answered rather than refused for lack of accounts."""
    upstream_settings.GEMPOOL_FAILOVER_DEADLINE = 5
    upstream_settings.GEMPOOL_IMAGE_WAIT_SECONDS = 1
    pool_account()


def test_v1_never_answers_500_and_errors_use_the_apis_envelope(api_schema, headers, simulated_upstream):
    assert _fuzz(_operations(api_schema, "/v1/"), headers) >= 50


def test_api_never_answers_500_and_errors_are_enveloped(api_schema, headers):
    assert _fuzz(_operations(api_schema, "/api/"), headers) >= 100
