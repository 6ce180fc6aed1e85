"""Account and API-key operations used by the API, the admin, the console and the commands."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import serializers

from accounts import lifecycle
from accounts.models import Account, ApiKey, PoolSettings
from gemini_enterprise.errors import UpstreamError
from gempool_site import hot_rows, rawsql
from gempool_site.exceptions import BadRequestError

logger = logging.getLogger(__name__)

KEY_PREFIX = "gp-"
LAST_USED_RESOLUTION = timedelta(seconds=60)
API_KEY_ROWS = rawsql.ModelRows(ApiKey)  # every /v1 request looks its key up: plain SQL (see rawsql)


# ---- API keys -------------------------------------------------------------------------------


def _hash_key(raw: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 cannot be brute-forced; a slow password
    # hash would only add latency to every API call.
    return hashlib.sha256(raw.encode()).hexdigest()


# What an operator may change on a key after creating it (its limits: accounts.key_limits).
API_KEY_FIELDS = ("name", "rate_limit_per_minute", "allowed_models", "expires_at", "daily_request_budget",
                  "daily_token_budget", "max_concurrent_requests")


def api_key_create(*, name: str, is_admin: bool = False, rate_limit_per_minute: int | None = None,
                   **limits: Any) -> tuple[ApiKey, str]:
    """Create a key (`limits`: any other API_KEY_FIELDS); returns the record and the raw key, which is never
    stored or shown again."""
    unknown = set(limits) - set(API_KEY_FIELDS)
    if unknown:
        raise TypeError(f"unknown API key fields: {', '.join(sorted(unknown))}")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=_hash_key(raw), is_admin=is_admin,
                                    rate_limit_per_minute=rate_limit_per_minute, **limits)
    return api_key, raw


def api_key_update(*, api_key: ApiKey, data: dict) -> ApiKey:
    """Change a key's name and limits (the given API_KEY_FIELDS only); they apply from its next request."""
    changed = [name for name in API_KEY_FIELDS if name in data and data[name] != getattr(api_key, name)]
    for name in changed:
        setattr(api_key, name, data[name])
    if changed:
        api_key.save(update_fields=changed)
    return api_key


def api_key_verify(*, raw: str) -> ApiKey | None:
    """The live key matching `raw`, or None; touches last_used_at at most once a minute."""
    digest = _hash_key(raw)
    api_key = hot_rows.API_KEYS.get(
        digest, lambda: API_KEY_ROWS.fetch_one("key_hash = %s AND revoked_at IS NULL", [digest]), keep_none=False)
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        # Stamp the shared instance before writing: the write may wait for the database, and every request
        # of this worker that reads the key meanwhile (all of them, in a burst) would write the same stamp.
        api_key.last_used_at = now
        rawsql.execute("UPDATE accounts_apikey SET last_used_at = %s WHERE id = %s",
                       [rawsql.db_datetime(now), api_key.pk])
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoke a key; requests with it fail from now on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


# ---- account state (every transition is accounts.lifecycle's) -----------------------------------


def account_set_enabled(*, accounts: QuerySet[Account] | list[Account], enabled: bool) -> int:
    """Enable or disable accounts. Enabling also acknowledges needs_attention; an account whose login
    failed comes back needing a login until it is re-tested or given new cookies."""
    count = 0
    now = timezone.now()
    with transaction.atomic():
        for account in accounts:
            current = lifecycle.locked(account.pk)
            lifecycle.apply(current, lifecycle.enabled(current, now=now) if enabled else lifecycle.disabled(now=now))
            count += 1
    return count


def account_clear_cooldown(*, accounts: QuerySet[Account] | list[Account]) -> int:
    """Make cooling-down accounts usable again now and forget their backoff streak."""
    count = 0
    now = timezone.now()
    with transaction.atomic():
        for account in accounts:
            lifecycle.apply(account, lifecycle.cooldown_cleared(now=now))
            count += 1
    return count


# ---- account CRUD ---------------------------------------------------------------------------

# What an operator edits; `enabled` and the cookies also move the life cycle. The rest of the row is runtime state.
ACCOUNT_FIELDS = ("label", "team_id", "csesidx", "secure_c_ses", "host_c_oses", "user_agent", "proxy_url",
                  "enabled", "daily_text_quota", "daily_image_quota", "daily_video_quota")
COOKIE_FIELDS = ("secure_c_ses", "host_c_oses")


def account_create(*, data: dict) -> Account:
    """Add an account from validated fields; a duplicate seat is refused with a 400."""
    plain = {name: data[name] for name in ACCOUNT_FIELDS if name in data and name != "enabled"}
    initial = lifecycle.created(enabled=data.get("enabled", True), now=timezone.now()).initial_values()
    account = Account(**plain, **initial)
    try:
        with transaction.atomic():
            account.save(force_insert=True)
    except IntegrityError:
        raise _duplicate_seat() from None
    return account


def account_update(*, account: Account, data: dict) -> Account:
    """Change the given fields only, with targeted UPDATEs: the counters the pool moves meanwhile stay intact.

    Returns the account as stored afterwards.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            current = lifecycle.locked(account.pk)
            changed = [name for name in ACCOUNT_FIELDS if name in data and data[name] != getattr(current, name)]
            plain = {name: data[name] for name in changed if name != "enabled"}
            if plain:
                Account.objects.filter(pk=current.pk).update(**plain, updated_at=now)
            if "enabled" in changed:
                current = _switched(current, enabled=data["enabled"], now=now)
            if any(name in changed for name in COOKIE_FIELDS):
                # New cookies deserve a chance; if they are dead too the next request or test says so.
                lifecycle.apply(current, lifecycle.cookies_replaced(now=now))
    except IntegrityError:
        raise _duplicate_seat() from None
    account.refresh_from_db()
    return account


def _switched(account: Account, *, enabled: bool, now) -> Account:
    changes = lifecycle.enabled(account, now=now) if enabled else lifecycle.disabled(now=now)
    if lifecycle.apply(account, changes):
        account.refresh_from_db()  # the next transition's rule reads the state this one left
    return account


def _duplicate_seat() -> BadRequestError:
    return BadRequestError("An account with this team_id and csesidx already exists.", param="csesidx",
                          code="duplicate_account")


def account_delete(*, account: Account) -> None:
    """Remove an account; its request-log rows stay (account set to null) for the dashboard totals."""
    account.delete()


def account_delete_many(*, account_ids: list[int]) -> list[int]:
    """Remove the accounts with these ids (as account_delete does each); returns the ids that existed."""
    with transaction.atomic():
        found = list(Account.objects.filter(pk__in=account_ids).values_list("pk", flat=True))
        Account.objects.filter(pk__in=found).delete()
    return found


def account_toggle(*, account: Account) -> Account:
    """Flip enabled/disabled and return the fresh record."""
    account_set_enabled(accounts=[account], enabled=not account.enabled)
    account.refresh_from_db()
    return account


# ---- account test ---------------------------------------------------------------------------

CHAT_PROBE_PROMPT = "Reply with the single word OK."
CHAT_PROBE_MAX_CHARS = 200
TEST_CONCURRENCY = 8  # upstream checks in flight at once for a bulk test


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
    from accounts.upstream import credentials_for

    return _account_record_probe(account, _probe(credentials_for(account), chat))


def account_test_many(*, accounts: list[Account], chat: bool = False, concurrency: int = TEST_CONCURRENCY
                      ) -> dict[int, AccountTestResult]:
    """account_test() for several accounts: the upstream calls run at most `concurrency` at a time (threads, or
    greenlets under gevent), the outcomes are recorded here afterwards, so the pool threads touch no database."""
    from concurrent.futures import ThreadPoolExecutor

    from accounts.upstream import credentials_for, pool_settings_get

    if not accounts:
        return {}
    pool = pool_settings_get()
    creds = [credentials_for(account, pool) for account in accounts]
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(accounts)))) as executor:
        probes = list(executor.map(lambda c: _probe_in_pool_thread(c, chat), creds))
    return {account.pk: _account_record_probe(account, probe) for account, probe in zip(accounts, probes, strict=True)}


@dataclass
class _Probe:
    error: UpstreamError | None
    latency_ms: int
    reply: str | None


def _probe(creds, chat: bool) -> _Probe:
    """The network half of a test (no database)."""
    from accounts.upstream import get_client

    started = time.monotonic()
    error: UpstreamError | None = None
    reply = None
    try:
        get_client().check_login(creds)
        if chat:
            reply = _chat_probe(creds)
    except UpstreamError as exc:
        error = exc
    return _Probe(error=error, latency_ms=int((time.monotonic() - started) * 1000), reply=reply)


def _probe_in_pool_thread(creds, chat: bool) -> _Probe:
    from django.core.cache import caches

    try:
        return _probe(creds, chat)
    finally:
        caches.close_all()  # the JWT store's cache client this thread opened; the thread ends with the batch


def _account_record_probe(account: Account, probe: _Probe) -> AccountTestResult:
    error = probe.error
    status = _account_record_test(account=account, error=error)
    logger.info("account test", extra={"account_id": account.pk, "ok": error is None,
                                       "error_kind": error.kind if error else "", "latency_ms": probe.latency_ms})
    return AccountTestResult(ok=error is None, status=status, latency_ms=probe.latency_ms, reply=probe.reply,
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
    now = timezone.now()
    with transaction.atomic():
        current = lifecycle.locked(account.pk)
        changes = lifecycle.test_passed(current, now=now) if error is None else \
            lifecycle.test_failed(current, error=error, now=now)
        lifecycle.apply(current, changes)
    return changes.values.get("status", current.status)


# ---- pool settings and proxy ----------------------------------------------------------------

POOL_SETTINGS_FIELDS = ("proxy_url", "proxy_enabled", "image_base_url", "default_model", "cooldown_base_seconds",
                        "cooldown_max_seconds", "unavailable_rest_seconds", "daily_text_quota", "daily_image_quota",
                        "daily_video_quota")
PROXY_TEST_TIMEOUT = 10.0  # seconds for connect and for the first byte; a slower proxy is not usable anyway


def pool_settings_update(*, data: dict, actor: str) -> PoolSettings:
    """Save the given pool settings; a changed proxy records `actor` (accounts.proxies)."""
    from accounts.proxies import proxy_change_record

    pool = PoolSettings.load()
    proxy_changed = "proxy_url" in data and data["proxy_url"] != pool.proxy_url
    for name in POOL_SETTINGS_FIELDS:
        if name in data:
            setattr(pool, name, data[name])
    pool.save()
    if proxy_changed:
        proxy_change_record(target=pool, actor=actor)
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
    error: str = ""  # why it failed, as a sentence (accounts.proxy_failures)
    detail: str = ""  # the technical text behind `error`, credentials masked


class NoProxyToTest(BadRequestError):
    code = "no_proxy"


def proxy_test(*, proxy: str | None = None, timeout: float = PROXY_TEST_TIMEOUT) -> ProxyTestResult:
    """Fetch GEMPOOL_PROXY_TEST_URL through `proxy` (default: the stored proxy, enabled or not).

    Never a direct fetch and never a URL the caller picks: the test proves a proxy, nothing else. Only a
    test of the stored proxy is remembered as the "last test": trying a candidate before saving it must not
    change what the status page says about the one in use.
    """
    from accounts.proxies import validate_proxy_url

    pool = PoolSettings.load()
    stored = proxy is None
    proxy = pool.proxy_url if stored else proxy
    if not proxy:
        raise NoProxyToTest("There is no proxy to test: give one as `proxy` or store one first (the test never "
                            "fetches directly).", param="proxy")
    if stored:  # stored before the address policy existed, or the name resolves elsewhere now
        try:
            validate_proxy_url(proxy)
        except serializers.ValidationError as exc:
            raise BadRequestError(str(exc.detail[0]), param="proxy", code="proxy_refused") from None
    result = _fetch_through(settings.GEMPOOL_PROXY_TEST_URL, proxy, timeout)
    if stored:
        PoolSettings.objects.filter(pk=pool.pk).update(
            last_proxy_test_at=timezone.now(), last_proxy_test_ok=result.reachable,
            last_proxy_test_latency_ms=result.latency_ms, last_proxy_test_error=result.error[:500])
        hot_rows.POOL_SETTINGS.clear()  # an update() sends no signal
    return result


def _fetch_through(target: str, proxy: str, timeout: float) -> ProxyTestResult:
    from accounts.proxy_failures import proxy_failure, proxy_status_failure

    session = requests.Session()
    session.trust_env = False  # test exactly this proxy, not whatever HTTP(S)_PROXY says
    session.proxies = {"http": proxy, "https": proxy}
    via = "proxy"
    started = time.monotonic()
    try:
        with session.get(target, timeout=(timeout, timeout), allow_redirects=False, stream=True,
                         verify=settings.GEMPOOL_VERIFY_TLS) as response:
            status_code = response.status_code
    except requests.RequestException as exc:
        latency_ms = int((time.monotonic() - started) * 1000)
        # Exception texts may echo the proxy URL: proxy_failure masks its credentials before anything shows it.
        failure = proxy_failure(exc, proxy=proxy, masked_proxy=proxy_mask(proxy), target=target, timeout=timeout)
        logger.info("proxy test failed", extra={"proxy": proxy_mask(proxy), "reason": failure.message,
                                                "detail": failure.detail})
        return ProxyTestResult(False, target, via, latency_ms, error=failure.message, detail=failure.detail)
    finally:
        session.close()
    latency_ms = int((time.monotonic() - started) * 1000)
    refused = proxy_status_failure(status_code, proxy=proxy)
    if refused:  # the proxy's own answer to a plain-HTTP request: the path does not work
        return ProxyTestResult(False, target, via, latency_ms, status_code=status_code, error=refused,
                               detail=f"HTTP {status_code} from the proxy")
    # Any other HTTP answer proves the path works; the status is reported for the operator to judge.
    return ProxyTestResult(True, target, via, latency_ms, status_code=status_code)
