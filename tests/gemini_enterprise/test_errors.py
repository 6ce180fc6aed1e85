"""error_from_response: one mapping from status + Google error body to the UpstreamError tree."""

from __future__ import annotations

import json

import pytest

from gemini_enterprise.errors import (
    AuthExpired,
    InvalidRequest,
    LoginRequired,
    NotFound,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    Unavailable,
    error_from_response,
)


def google(code: int, status: str, message: str = "m", details: list | None = None) -> dict:
    err = {"code": code, "message": message, "status": status}
    if details is not None:
        err["details"] = details
    return {"error": err}


EXHAUSTED = google(
    429,
    "RESOURCE_EXHAUSTED",
    "Resource has been exhausted (e.g. check quota).",
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "LLM_OVERLOADED",
            "domain": "discoveryengine.googleapis.com",
        }
    ],
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, EXHAUSTED, RateLimited),
        (200, EXHAUSTED, RateLimited),  # in-stream element without an HTTP error
        (401, google(401, "UNAUTHENTICATED"), AuthExpired),
        (401, {}, AuthExpired),
        (403, google(403, "PERMISSION_DENIED"), PermissionDenied),
        (403, "<html>Access Restricted</html>", PermissionDenied),
        (404, google(404, "NOT_FOUND"), NotFound),
        (400, google(400, "INVALID_ARGUMENT", "Unsupported file type: application/x-foo"), InvalidRequest),
        (400, google(400, "INVALID_ARGUMENT", "x", [{"reason": "MODEL_ARMOR_VIOLATION"}]), PolicyBlocked),
        (500, google(500, "INTERNAL"), Unavailable),
        (502, b"Bad gateway", Unavailable),
        (503, google(503, "UNAVAILABLE"), Unavailable),
        (504, None, Unavailable),
        (200, google(200, "DEADLINE_EXCEEDED"), Unavailable),
    ],
)
def test_status_and_body_map_onto_the_error_tree(status, body, expected) -> None:
    error = error_from_response(status, body)
    assert type(error) is expected
    assert error.status == status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, LoginRequired),
        (403, LoginRequired),
        (302, LoginRequired),
        (400, LoginRequired),
        (429, RateLimited),
        (500, Unavailable),
        (503, Unavailable),
    ],
)
def test_auth_host_failures_are_blamed_on_the_login(status, expected) -> None:
    assert type(error_from_response(status, b"", during_auth=True)) is expected


def test_the_google_body_is_read_from_bytes_and_from_a_stream_array() -> None:
    assert isinstance(error_from_response(429, json.dumps(EXHAUSTED).encode()), RateLimited)
    error = error_from_response(400, [google(400, "INVALID_ARGUMENT", "bad")])
    assert isinstance(error, InvalidRequest)
    assert "bad" in str(error)


def test_the_retry_hint_comes_from_retry_info() -> None:
    body = google(
        429,
        "RESOURCE_EXHAUSTED",
        details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}],
    )
    assert error_from_response(429, body).retry_after == 30.0


def test_the_retry_hint_comes_from_the_retry_after_header() -> None:
    assert error_from_response(429, {}, headers={"Retry-After": "12"}).retry_after == 12.0
    assert (
        error_from_response(429, {}, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after
        == 0
    )
    assert error_from_response(429, {}).retry_after is None


def test_an_error_reports_the_upstream_reason_and_kind() -> None:
    error = error_from_response(429, EXHAUSTED)
    assert error.reason == "LLM_OVERLOADED"
    assert error.kind == "rate_limited"
    assert error.account_fault and error.retryable_elsewhere


def test_request_faults_are_not_the_accounts() -> None:
    for error in (
        error_from_response(400, {}),
        error_from_response(400, google(400, "INVALID_ARGUMENT", "x", [{"reason": "MODEL_ARMOR_VIOLATION"}])),
    ):
        assert not error.account_fault
        assert not error.retryable_elsewhere


def test_an_error_message_never_echoes_a_token() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlX3NpZ25hdHVyZQ"
    error = error_from_response(401, google(401, "UNAUTHENTICATED", f"bad token {jwt}"))
    assert jwt not in str(error)
    assert "[redacted]" in str(error)
