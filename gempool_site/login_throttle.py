"""Login throttling for every sign-in form: the console's /login/ and the admin's /admin/login/.

Failed sign-ins are counted in the shared cache (gempool_site.throttles) under the client address and the
user name normalised the way Django matches it and more (NFKC, then casefold), so full-width or upper-case
look-alikes of one user count as that user:

- per address (GEMPOOL_LOGIN_RATE): one address cannot try many user names;
- per user name and address (GEMPOOL_LOGIN_RATE): one address cannot keep guessing one password;
- per user name over a long window (GEMPOOL_LOGIN_USER_BACKSTOP): once a user has drawn that many failures
  from anywhere, each address gets only BACKSTOP_TRIES_PER_ADDRESS failed tries at that user per long
  window. Guessing spread over many addresses stays slow, yet nothing an attacker does from other addresses
  blocks the operator's own: an address without failures of its own for that user still signs in.

Failures are counted from Django's `user_login_failed` signal, so every path through authenticate() counts;
a refused attempt never reaches the password check (no hashing, no count).
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import unicodedata

from django.conf import settings
from django.http import HttpRequest

from gempool_site.throttles import FixedWindow

logger = logging.getLogger(__name__)

BACKSTOP_TRIES_PER_ADDRESS = 3
MAX_USERNAME = 150


def normalise_username(raw: str) -> str:
    """The user name as the throttle counts it: NFKC (as Django normalises), casefolded, trimmed."""
    return unicodedata.normalize("NFKC", raw[:MAX_USERNAME]).casefold().strip()


def _user_id(raw: str) -> str:
    # Hashed so a user name typed into the form never sits in the cache (or Redis) in clear.
    return hashlib.sha256(normalise_username(raw).encode()).hexdigest()[:32]


def _trusted_proxy(address: str) -> bool:
    trusted = settings.GEMPOOL_FORWARDED_ALLOW_IPS
    if "*" in trusted:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_address(request: HttpRequest) -> str:
    """The client's address: X-Forwarded-For's last hop when the peer is a trusted proxy (our reverse proxy
    overwrites that header with the address it saw), else the peer itself."""
    peer = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and _trusted_proxy(peer):
        return forwarded.split(",")[-1].strip()[:64] or peer
    return peer


def _windows() -> tuple[int, FixedWindow, int, FixedWindow]:
    limit, seconds = settings.GEMPOOL_LOGIN_RATE
    backstop, long_seconds = settings.GEMPOOL_LOGIN_USER_BACKSTOP
    return limit, FixedWindow("login-fail", seconds), backstop, FixedWindow("login-fail-long", long_seconds)


def login_wait(*, address: str, username: str) -> int:
    """Seconds before this address may try this user name again (0 = it may try now)."""
    limit, short, backstop, long = _windows()
    user = _user_id(username)
    by_address, by_pair = short.counts([f"ip:{address}", f"pair:{user}:{address}"])
    if by_address >= limit or by_pair >= limit:
        return short.seconds_left()
    by_user, by_pair_long = long.counts([f"user:{user}", f"pair:{user}:{address}"])
    if by_user >= backstop and by_pair_long >= BACKSTOP_TRIES_PER_ADDRESS:
        return long.seconds_left()
    return 0


def request_login_wait(request: HttpRequest) -> int:
    """login_wait() for a posted sign-in form."""
    return login_wait(address=client_address(request), username=request.POST.get("username", ""))


def login_failed(*, address: str, username: str) -> None:
    """Count one failed sign-in against the address, the user name and the pair."""
    _, short, backstop, long = _windows()
    user = _user_id(username)
    short.hit(f"ip:{address}")
    short.hit(f"pair:{user}:{address}")
    long.hit(f"pair:{user}:{address}")
    if long.hit(f"user:{user}") == backstop:
        logger.warning("login backstop reached: few tries per address for this user now",
                       extra={"user_hash": user[:12], "client": address})


def count_failed_login(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """user_login_failed receiver: sign-ins through a request (forms) count; scripts calling authenticate() don't."""
    if request is None:
        return
    username = credentials.get("username")
    address = client_address(request)
    login_failed(address=address, username=username if isinstance(username, str) else "")
    logger.info("login failed", extra={"client": address, "path": request.path})
