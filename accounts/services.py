"""Account and API-key operations used by the API, the admin, the console and the commands."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account, AccountStatus, ApiKey

KEY_PREFIX = "gp-"
LAST_USED_RESOLUTION = timedelta(seconds=60)


# ---- API keys -------------------------------------------------------------------------------


def _hash_key(raw: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 cannot be brute-forced; a slow password
    # hash would only add latency to every API call.
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_create(*, name: str, is_admin: bool = False, rate_limit_per_minute: int | None = None
                   ) -> tuple[ApiKey, str]:
    """Create a key; returns the record and the raw key, which is never stored or shown again."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=_hash_key(raw), is_admin=is_admin,
                                    rate_limit_per_minute=rate_limit_per_minute)
    return api_key, raw


def api_key_verify(*, raw: str) -> ApiKey | None:
    """The live key matching `raw`, or None; touches last_used_at at most once a minute."""
    digest = _hash_key(raw)
    api_key = ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
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
                account.cooldown_until = None
            account.save(update_fields=["enabled", "status", "cooldown_until", "updated_at"])
            count += 1
    return count


def account_clear_cooldown(*, accounts: QuerySet[Account] | list[Account]) -> int:
    """Make cooling-down accounts usable again now and forget their backoff streak."""
    count = 0
    with transaction.atomic():
        for account in accounts:
            account.cooldown_until = None
            account.cooldown_streak = 0
            if account.status == AccountStatus.COOLING_DOWN:
                account.status = AccountStatus.ACTIVE
            account.save(update_fields=["cooldown_until", "cooldown_streak", "status", "updated_at"])
            count += 1
    return count
