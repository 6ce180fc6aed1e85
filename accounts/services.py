"""Account and API-key operations used by the API, the admin, the console and the commands."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.models import Account, AccountStatus, ApiKey, PoolSettings
from gemini_enterprise.errors import UpstreamError
from gempool_site import rawsql
from gempool_site.exceptions import BadRequestError
from gempool_site.logging import redact

logger = logging.getLogger(__name__)

KEY_PREFIX = "gp-"
LAST_USED_RESOLUTION = timedelta(seconds=60)
API_KEY_ROWS = rawsql.ModelRows(ApiKey)  # every /v1 request looks its key up: plain SQL (see rawsql)


# ---- API keys -------------------------------------------------------------------------------


def _hash_key(raw: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 cannot be brute-forced; a slow password
    # hash would only add latency to every API call.
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, name: str, is_admin: bool = False, rate_limit_per_minute: int | None = None,
                   **limits) -> tuple[ApiKey, str]:
    """Create a key; returns the record and the raw key, which is never stored or shown again.

    `limits`: allowed_models, expires_at, requests_per_day, tokens_per_day, max_concurrent (accounts.key_limits).
    """
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=_hash_key(raw), is_admin=is_admin,
                                    rate_limit_per_minute=rate_limit_per_minute, **limits)
    return api_key, raw


def api_key_update(*, api_key: ApiKey, data: dict) -> ApiKey:
    """Change a key's name or limits; they apply from its next request."""
    for name, value in data.items():
        setattr(api_key, name, value)
    api_key.save(update_fields=list(data))
    return api_key


def api_key_verify(*, raw: str) -> ApiKey | None:
    """The live key matching `raw`, or None; touches last_used_at at most once a minute."""
    digest = _hash_key(raw)
    api_key = API_KEY_ROWS.fetch_one("key_hash = %s AND revoked_at IS NULL", [digest])
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        rawsql.execute("UPDATE accounts_apikey SET last_used_at = %s WHERE id = %s",
                       [rawsql.db_datetime(now), api_key.pk])
        api_key.last_used_at = now
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoke a key; requests with it fail from now on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


# ---- account state --------------------------------------------------------------------------


def account_set_enabled(*, accounts: QuerySet[Account] | list[Account], enabled: bool) -> int:
    """Enable or disable accounts; enabling clears a cooldown but keeps needs_login until re-tested."""
    count = 0
    with transaction.atomic():
        for account in accounts:
            account.enabled = enabled
            if not enabled:
                account.status = AccountStatus.DISABLED
            elif account.status == AccountStatus.DISABLED:
                account.status = AccountStatus.NEEDS_LOGIN if account.last_error_kind in (
                    "login_required", "permission_denied") else AccountStatus.ACTIVE
                _end_cooldown(account)
            account.save(update_fields=["enabled", "status", "cooldown_until", "ready_at", "updated_at"])
            count += 1
    return count


def _end_cooldown(account: Account) -> None:
    # Back in the lease order where its last use puts it, not where its rest would have ended.
    account.cooldown_until = None
    account.ready_at = account.last_used_at


def account_clear_cooldown(*, accounts: QuerySet[Account] | list[Account]) -> int:
    """Make cooling-down accounts usable again now and forget their backoff streak."""
    count = 0
    with transaction.atomic():
        for account in accounts:
            _end_cooldown(account)
            account.cooldown_streak = 0
            if account.status == AccountStatus.COOLING_DOWN:
                account.status = AccountStatus.ACTIVE
            account.save(update_fields=["cooldown_until", "ready_at", "cooldown_streak", "status", "updated_at"])
            count += 1
    return count


# ---- account CRUD ---------------------------------------------------------------------------

ACCOUNT_FIELDS = ("label", "team_id", "csesidx", "secure_c_ses", "host_c_oses", "user_agent", "proxy_url",
                  "enabled")
LOGIN_ERROR_KINDS = ("login_required", "permission_denied")


def account_create(*, data: dict) -> Account:
    """Add an account from validated fields; a duplicate seat is refused with a 400."""
    account = Account(**{name: data[name] for name in ACCOUNT_FIELDS if name in data})
    account.status = AccountStatus.ACTIVE if account.enabled else AccountStatus.DISABLED
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise _duplicate_seat() from None
    return account


def account_update(*, account: Account, data: dict) -> Account:
    """Change the given fields only; runtime counters written concurrently by the pool are left alone."""
    changed = [name for name in ACCOUNT_FIELDS if name in data and data[name] != getattr(account, name)]
    cookies_changed = any(name in changed for name in ("secure_c_ses", "host_c_oses"))
    for name in changed:
        setattr(account, name, data[name])
    if "enabled" in changed:
        if not account.enabled:
            account.status = AccountStatus.DISABLED
        else:
            account.status = AccountStatus.NEEDS_LOGIN if account.last_error_kind in LOGIN_ERROR_KINDS \
                else AccountStatus.ACTIVE
            _end_cooldown(account)
    if cookies_changed and account.enabled and account.status == AccountStatus.NEEDS_LOGIN:
        # New cookies deserve a chance; if they are dead too the next request or test says so.
        account.status = AccountStatus.ACTIVE
    try:
        with transaction.atomic():
            account.save(update_fields=[*changed, "status", "cooldown_until", "ready_at", "updated_at"])
    except IntegrityError:
        raise _duplicate_seat() from None
    return account


def _duplicate_seat() -> BadRequestError:
    return BadRequestError("An account with this team_id and csesidx already exists.", param="csesidx",
                          code="duplicate_account")


def account_delete(*, account: Account) -> None:
    """Remove an account; its request-log rows stay (account set to null) for the dashboard totals."""
    account.delete()


def account_toggle(*, account: Account) -> Account:
    """Flip enabled/disabled and return the fresh record."""
    account_set_enabled(accounts=[account], enabled=not account.enabled)
    account.refresh_from_db()
    return account


# ---- account test ---------------------------------------------------------------------------

CHAT_PROBE_PROMPT = "Reply with the single word OK."
CHAT_PROBE_MAX_CHARS = 200


@dataclass
class AccountTestResult:
    """What POST /api/accounts/<id>/test reports."""

    ok: bool
    status: str
    latency_ms: int
    error: dict | None = None
    reply: str | None = None


def account_test(*, account: Account, chat: bool = False) -> AccountTestResult:
    """Fetch a fresh token (and optionally run a one-line chat) for the account, then record the outcome."""
    from accounts.upstream import credentials_for, get_client

    creds = credentials_for(account)
    started = time.monotonic()
    error: UpstreamError | None = None
    reply = None
    try:
        get_client().check_login(creds)
        if chat:
            reply = _chat_probe(creds)
    except UpstreamError as exc:
        error = exc
    latency_ms = int((time.monotonic() - started) * 1000)
    status = _account_record_test(account=account, error=error)
    logger.info("account test", extra={"account_id": account.pk, "ok": error is None,
                                       "error_kind": error.kind if error else "", "latency_ms": latency_ms})
    return AccountTestResult(ok=error is None, status=status, latency_ms=latency_ms, reply=reply,
                             error={"kind": error.kind, "message": error.message} if error else None)


def _chat_probe(creds) -> str:
    from accounts.upstream import get_client
    from gemini_enterprise.types import StreamError, TextDelta

    client = get_client()
    session = client.create_session(creds)
    parts: list[str] = []
    with client.stream_assist(creds, session=session, query=CHAT_PROBE_PROMPT) as stream:
        for event in stream:
            if isinstance(event, StreamError):
                raise event.error
            if isinstance(event, TextDelta):
                parts.append(event.text)
    return "".join(parts).strip()[:CHAT_PROBE_MAX_CHARS]


def _account_record_test(*, account: Account, error: UpstreamError | None) -> str:
    """Store the test's verdict with a targeted UPDATE (no read-modify-write of the pool's counters)."""
    account.refresh_from_db(fields=["status", "enabled", "last_error_kind"])
    status = account.status
    if error is None:
        changes: dict = {"consecutive_failures": 0}
        if account.enabled and status == AccountStatus.NEEDS_LOGIN:
            status = AccountStatus.ACTIVE
        if status != AccountStatus.COOLING_DOWN:
            changes.update(last_error_kind="", last_error_reason="", last_error_at=None)
    else:
        changes = {"last_error_kind": error.kind, "last_error_reason": error.message[:500],
                   "last_error_at": timezone.now(), "consecutive_failures": F("consecutive_failures") + 1}
        if account.enabled and error.kind in LOGIN_ERROR_KINDS:
            status = AccountStatus.NEEDS_LOGIN
    Account.objects.filter(pk=account.pk).update(status=status, updated_at=timezone.now(), **changes)
    return status


# ---- pool settings and proxy ----------------------------------------------------------------

POOL_SETTINGS_FIELDS = ("proxy_url", "proxy_enabled", "proxy_test_url", "image_base_url", "cooldown_base_seconds",
                        "cooldown_max_seconds", "unavailable_rest_seconds")
PROXY_TEST_TIMEOUT = 10.0  # seconds for connect and for the first byte; a slower proxy is not usable anyway


def pool_settings_update(*, data: dict) -> PoolSettings:
    """Save the given pool settings (every process reloads them through the version signal)."""
    pool = PoolSettings.load()
    for name in POOL_SETTINGS_FIELDS:
        if name in data:
            setattr(pool, name, data[name])
    pool.save()
    return pool


def proxy_mask(url: str) -> str:
    """The proxy URL with its user name and password hidden (scheme, host and port stay readable)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.hostname or ""
    netloc = "••••:••••@" + (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class ProxyTestResult:
    """What POST /api/proxy/test reports."""

    reachable: bool
    url: str
    via: str  # "proxy" or "direct"
    latency_ms: int
    status_code: int | None = None
    error: str = ""


def proxy_test(*, url: str = "", proxy: str | None = None, timeout: float = PROXY_TEST_TIMEOUT) -> ProxyTestResult:
    """Fetch `url` through `proxy` (default: the stored proxy, enabled or not) and report reachability.

    Only a test of the stored proxy is remembered as the "last test": trying a candidate before saving
    it must not change what the status page says about the one in use.
    """
    pool = PoolSettings.load()
    stored = proxy is None
    proxy = pool.proxy_url if stored else proxy
    target = url or pool.proxy_test_url or settings.GEMPOOL_AUTH_URL
    result = _fetch_through(target, proxy, timeout)
    if stored:
        PoolSettings.objects.filter(pk=pool.pk).update(
            last_proxy_test_at=timezone.now(), last_proxy_test_ok=result.reachable,
            last_proxy_test_latency_ms=result.latency_ms, last_proxy_test_error=result.error[:500])
    return result


def _fetch_through(target: str, proxy: str, timeout: float) -> ProxyTestResult:
    session = requests.Session()
    session.trust_env = False  # test exactly this proxy (or none), not whatever HTTP(S)_PROXY says
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    via = "proxy" if proxy else "direct"
    started = time.monotonic()
    try:
        with session.get(target, timeout=(timeout, timeout), allow_redirects=False, stream=True,
                         verify=settings.GEMPOOL_VERIFY_TLS) as response:
            status_code = response.status_code
    except requests.RequestException as exc:
        latency_ms = int((time.monotonic() - started) * 1000)
        return ProxyTestResult(False, target, via, latency_ms, error=_describe_failure(exc, proxy))
    finally:
        session.close()
    latency_ms = int((time.monotonic() - started) * 1000)
    # Any HTTP answer proves the path works; the status is reported for the operator to judge.
    return ProxyTestResult(True, target, via, latency_ms, status_code=status_code)


def _describe_failure(exc: requests.RequestException, proxy: str) -> str:
    kinds = [(requests.exceptions.ProxyError, "the proxy refused or failed the connection"),
             (requests.exceptions.ConnectTimeout, "connect timeout"),
             (requests.exceptions.ReadTimeout, "no answer before the timeout"),
             (requests.exceptions.SSLError, "TLS error"),
             (requests.exceptions.ConnectionError, "connection failed"),
             (requests.exceptions.InvalidURL, "invalid URL"),
             (requests.exceptions.InvalidSchema, "unsupported proxy or URL scheme")]
    summary = next((text for cls, text in kinds if isinstance(exc, cls)), "request failed")
    detail = str(exc)
    if proxy:
        # Exception texts may echo the proxy URL; its credentials must not reach the UI, the DB or a log.
        detail = detail.replace(proxy, proxy_mask(proxy))
    return f"{summary}: {redact(detail)}"[:500]
