"""Proxy URLs: the one validator (syntax and address policy) and the record of who changed a proxy.

A proxy sees every upstream request of the accounts that use it, cookies included, so a proxy host goes
through the same address policy as client image URLs (files_app.safe_fetch): no internal, loopback or
metadata address unless the operator allows private proxies (GEMPOOL_PROXY_ALLOW_PRIVATE).
"""
from __future__ import annotations

import logging
import time
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework import serializers

from files_app.safe_fetch import host_problem

logger = logging.getLogger(__name__)

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}
SYNTAX = "Must be a proxy URL like http://host:port (schemes: " + ", ".join(PROXY_SCHEMES) + ")"


def validate_proxy_url(value: str) -> str:
    """'' or scheme://host:port with an http(s)/socks5 scheme, on a host the address policy allows."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        raise serializers.ValidationError(f"{SYNTAX}; this one is malformed.") from None
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise serializers.ValidationError(f"{SYNTAX}.")
    try:
        port = parts.port
    except ValueError:
        raise serializers.ValidationError("The proxy port is not a valid number.") from None
    problem = _host_verdict(parts.hostname, port or DEFAULT_PORTS[parts.scheme],
                            settings.GEMPOOL_PROXY_ALLOW_PRIVATE, int(time.monotonic() // VERDICT_SECONDS))
    if problem:
        logger.info("proxy refused", extra={"host": parts.hostname, "reason": problem})
        raise serializers.ValidationError(
            "The proxy host is unknown or not a public address; an operator can allow private proxies with "
            "GEMPOOL_PROXY_ALLOW_PRIVATE.")
    return value


VERDICT_SECONDS = 60


@lru_cache(maxsize=256)
def _host_verdict(host: str, port: int, allow_private: bool, period: int) -> str | None:
    # One lookup per host and minute: an import naming one proxy on every row must not resolve it each time.
    return host_problem(host, port, allow_private=allow_private)


def proxy_host(url: str) -> str:
    """Only the host of a proxy URL, for logs (never its credentials)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return "(malformed)"


def proxy_change_record(*, target: models.Model, actor: str) -> None:
    """Store who changed the proxy of an account or of the pool, and log it."""
    now = timezone.now()
    type(target).objects.filter(pk=target.pk).update(proxy_changed_by=actor[:150], proxy_changed_at=now)
    target.proxy_changed_by, target.proxy_changed_at = actor[:150], now
    logger.info("proxy changed", extra={"by": actor, "target": type(target).__name__.lower(),
                                        "target_id": target.pk, "proxy_host": proxy_host(target.proxy_url)})


def pool_proxy_current() -> str:
    """The stored pool proxy ('' when none), read without creating the settings row."""
    from accounts.models import PoolSettings

    pool = PoolSettings.objects.filter(pk=1).first()
    return pool.proxy_url if pool else ""


def pool_proxy_change_check(*, before: str, actor: str) -> None:
    """After a write that may have replaced the pool proxy (an import): record it if it did."""
    from accounts.models import PoolSettings

    pool = PoolSettings.objects.filter(pk=1).first()
    if pool is not None and pool.proxy_url != before:
        proxy_change_record(target=pool, actor=actor)
