"""The one exception tree for upstream failures, and the one function that maps a response to it."""
from __future__ import annotations

import datetime
import email.utils
import json
import re
from collections.abc import Mapping
from typing import Any


class UpstreamError(Exception):
    """Base of every upstream failure. `account_fault`: is the account (not the request) to blame?"""

    account_fault: bool = True
    retryable_elsewhere: bool = True  # may another account succeed where this one failed?

    def __init__(self, message: str, *, status: int | None = None, reason: str = "",
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason  # upstream's machine-readable reason (e.g. RESOURCE_EXHAUSTED), never a secret
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        """A stable, log-friendly name of the error class (e.g. 'rate_limited')."""
        return _KIND_NAMES.get(type(self), "upstream_error")


class AuthExpired(UpstreamError):
    """The JWT was refused (HTTP 401 from the API host): refresh it and retry once."""


class LoginRequired(UpstreamError):
    """The account's cookies are dead: getoxsrf answered 401/403/302 or without its keys."""


class PermissionDenied(UpstreamError):
    """403 on an API call: wrong team id, foreign session, or a banned account."""


class RateLimited(UpstreamError):
    """429 / RESOURCE_EXHAUSTED, over HTTP or inside the stream; `retry_after` holds any hint.

    `quota_kind` ("text", "image" or "video") when the error names a daily quota (an ErrorInfo's
    `metadata.quota_metric`, Google's usual form): only that kind is used up, not the account.
    """

    quota_kind: str | None = None


class Unavailable(UpstreamError):
    """5xx, timeouts, connection errors, truncated or malformed streams: transient, try elsewhere."""


class NotFound(UpstreamError):
    """404: the upstream session is unknown or expired (create a new one)."""


class InvalidRequest(UpstreamError):
    """400: the request itself is wrong (e.g. an unsupported file type); no other account will do better."""

    account_fault = False
    retryable_elsewhere = False


class PolicyBlocked(UpstreamError):
    """The prompt, answer or upload tripped the customer's policy (Model Armor)."""

    account_fault = False
    retryable_elsewhere = False


_KIND_NAMES: dict[type, str] = {
    AuthExpired: "auth_expired",
    LoginRequired: "login_required",
    PermissionDenied: "permission_denied",
    RateLimited: "rate_limited",
    Unavailable: "unavailable",
    NotFound: "not_found",
    InvalidRequest: "invalid_request",
    PolicyBlocked: "policy_blocked",
}


_GOOGLE_STATUS: dict[str, type[UpstreamError]] = {
    "RESOURCE_EXHAUSTED": RateLimited,
    "UNAUTHENTICATED": AuthExpired,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "INVALID_ARGUMENT": InvalidRequest,
    "OUT_OF_RANGE": InvalidRequest,
    "UNAVAILABLE": Unavailable,
    "INTERNAL": Unavailable,
    "DEADLINE_EXCEEDED": Unavailable,
    "ABORTED": Unavailable,
    "UNKNOWN": Unavailable,
}
_POLICY_REASONS = frozenset({"MODEL_ARMOR_VIOLATION", "CUSTOMER_POLICY_VIOLATION"})
_MAX_MESSAGE = 300
# Upstream messages are not supposed to carry credentials, but a JWT or a long opaque token echoed back
# would otherwise end up in our logs; cut anything that looks like one.
_SECRETISH = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+|[A-Za-z0-9_\-+/=]{48,}")


def error_from_response(status: int, body: Any, *, headers: Mapping[str, str] | None = None,
                        during_auth: bool = False) -> UpstreamError:
    """Map an HTTP status (or an in-stream error element's code) and a parsed body to an UpstreamError."""
    err = _error_object(body)
    g_status = str(err.get("status") or "")
    reasons = _detail_reasons(err)
    message = _scrub(str(err.get("message") or ""))
    retry_after = _retry_after(err, headers)
    cls = _classify(status, g_status, reasons, during_auth)
    label = g_status or (f"HTTP {status}" if status else "error")
    text = f"upstream {status}: {label}" + (f": {message}" if message else "")
    reason = next(iter(reasons), "") or g_status
    error = cls(text, status=status, reason=reason, retry_after=retry_after)
    if isinstance(error, RateLimited):
        error.quota_kind = _quota_kind(err)
    return error


def _classify(status: int, g_status: str, reasons: list[str], during_auth: bool) -> type[UpstreamError]:
    if _POLICY_REASONS.intersection(reasons):
        return PolicyBlocked
    if during_auth:
        # getoxsrf answers cookie problems with 401/403 or a 302 to the sign-in page, so anything but a
        # rate limit or a server failure there means the login is gone.
        if status == 429:
            return RateLimited
        if status >= 500 or status == 408:
            return Unavailable
        return LoginRequired
    if status == 429:
        return RateLimited
    if g_status in _GOOGLE_STATUS:
        return _GOOGLE_STATUS[g_status]
    if status == 401:
        return AuthExpired
    if status == 403:
        return PermissionDenied
    if status == 404:
        return NotFound
    if status in (400, 411, 413, 415, 422):
        return InvalidRequest
    return Unavailable


def _error_object(body: Any) -> dict:
    """Find Google's `{"error": {...}}` in a dict, a one-element array (stream form), bytes or text."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body.lstrip()[:65536]) if body.strip() else {}
        except ValueError:
            return {"message": body.strip()[:_MAX_MESSAGE]} if not body.lstrip().startswith("<") else {}
    if isinstance(body, list) and body:
        body = body[0]
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            return inner
        if isinstance(inner, str):
            return {"message": inner}
    return {}


def _details(err: dict) -> list:
    details = err.get("details")
    return details if isinstance(details, list) else []  # any other shape carries nothing we can read


def _detail_reasons(err: dict) -> list[str]:
    reasons: list[str] = []
    for detail in _details(err):
        if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
            reasons.append(detail["reason"])
    return reasons


def _quota_kind(err: dict) -> str | None:
    """The kind of daily quota an ErrorInfo's `metadata.quota_metric` names (None: no quota named)."""
    for detail in _details(err):
        metadata = detail.get("metadata") if isinstance(detail, dict) else None
        metric = metadata.get("quota_metric") if isinstance(metadata, dict) else None
        if isinstance(metric, str) and metric:
            metric = metric.lower()
            return "video" if "video" in metric else "image" if "image" in metric else "text"
    return None


def _retry_after(err: dict, headers: Mapping[str, str] | None) -> float | None:
    for detail in _details(err):
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            seconds = _parse_duration(detail.get("retryDelay"))
            if seconds is not None:
                return seconds
    if headers:
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        if value is not None:
            return _parse_retry_after_header(value)
    return None


def _parse_duration(value: Any) -> float | None:
    """google.protobuf.Duration in JSON: "30s", "1.5s"; also tolerate {"seconds": N, "nanos": M}."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return max(0.0, float(value[:-1]))
        except ValueError:
            return None
    if isinstance(value, dict):
        try:
            return max(0.0, float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9)
        except (TypeError, ValueError):
            return None
    return None


def _parse_retry_after_header(value: str) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def _scrub(message: str) -> str:
    return _SECRETISH.sub("[redacted]", message)[:_MAX_MESSAGE]
