"""What the simulator's login pages remember: settings, XSRF tokens, login attempts and the codes mailed."""
from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any

VARIANT_NAMES = ("a", "b", "c")  # login_pages.VARIANTS has their elements
DEFAULT_COOKIE_LIFETIME = 12 * 3600.0  # Expires of the new cookies when logins never expire
XSRF_TTL = 1800.0  # a login page's token is stale after this (-> signin-error, as upstream)
CODE_TTL = 600.0  # a mailed code is refused after this
CODE_ALPHABET = string.ascii_uppercase + string.digits


def new_code() -> str:
    """Six characters from A-Z0-9 with at least one letter (as the real mails; never a bare number)."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if any(c.isalpha() for c in code):
            return code


@dataclass
class LoginSettings:
    """Server-wide login behaviour (`POST /_sim/login` changes it at runtime)."""

    variant: str = "a"
    cookie_lifetime: float | None = None  # None: the login's lifetime, or DEFAULT_COOKIE_LIFETIME
    lmtp: str | None = None  # "/path/to/socket" or "host:port" of the LMTP server; None = no mail delivery
    mail_routes: dict[str, str] = field(default_factory=dict)  # address, "*@domain" or "*" -> mailbox user
    max_wrong_codes: int = 5
    slow_mail_seconds: float = 5.0  # the delay of `slow_mail` when it has no argument

    def as_json(self) -> dict[str, Any]:
        """JSON-ready view for the control API."""
        return {"variant": self.variant, "cookie_lifetime": self.cookie_lifetime, "lmtp": self.lmtp,
                "mail_routes": dict(self.mail_routes), "max_wrong_codes": self.max_wrong_codes,
                "slow_mail_seconds": self.slow_mail_seconds}


@dataclass
class LoginAttempt:
    """One walk through the login pages, from the email to the cookies."""

    attempt_id: str
    csesidx: str
    email: str
    variant: str
    faults: dict[str, str | None]
    started: float = field(default_factory=time.time)
    state: str = "send"  # send -> code -> done | too_many
    codes: list[str] = field(default_factory=list)  # every code mailed, oldest first
    refused: set[str] = field(default_factory=set)  # codes that are refused even when right (wrong_first_code)
    code_sent_at: float = 0.0
    wrong: int = 0
    last_error: str = ""  # "wrong" or "" (what the code page says)

    def code_accepted(self, code: str, now: float) -> bool:
        """Only the newest code counts, within its validity, unless a fault refuses it."""
        if not self.codes or now - self.code_sent_at > CODE_TTL:
            return False
        newest = self.codes[-1]
        return secrets.compare_digest(code.encode(), newest.encode()) and newest not in self.refused


@dataclass
class SentMail:
    """A mail the simulator sent (or failed to send), for `GET /_sim/login/mail`."""

    to: str
    mailbox: str
    sender: str
    subject: str
    code: str | None
    sent_at: float
    delivered: bool = False
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready view for the control API."""
        return {"to": self.to, "mailbox": self.mailbox, "from": self.sender, "subject": self.subject,
                "code": self.code, "sent_at": self.sent_at, "delivered": self.delivered, "error": self.error}


class LoginBook:
    """Lock-protected XSRF tokens, attempts and sent mails of one simulator."""

    def __init__(self, settings: LoginSettings | None = None) -> None:
        self.lock = threading.Lock()
        self.settings = settings or LoginSettings()
        self.xsrf: dict[str, float] = {}
        self.attempts: dict[str, LoginAttempt] = {}
        self.mails: list[SentMail] = []

    def issue_xsrf(self) -> str:
        """A fresh login-page token."""
        token = "AJ" + secrets.token_urlsafe(30)
        with self.lock:
            self.xsrf[token] = time.time()
        return token

    def xsrf_ok(self, token: str) -> bool:
        """True for a token this simulator issued less than XSRF_TTL ago."""
        with self.lock:
            issued = self.xsrf.get(token)
        return issued is not None and time.time() - issued < XSRF_TTL

    def start(self, *, csesidx: str, email: str, variant: str, faults: dict[str, str | None]) -> LoginAttempt:
        """A new attempt for a seat."""
        attempt = LoginAttempt(attempt_id=secrets.token_urlsafe(18), csesidx=csesidx, email=email,
                               variant=variant, faults=faults)
        with self.lock:
            self.attempts[attempt.attempt_id] = attempt
        return attempt

    def attempt(self, attempt_id: str) -> LoginAttempt | None:
        """The attempt by id, if any."""
        with self.lock:
            return self.attempts.get(attempt_id)

    def record(self, mail: SentMail) -> None:
        """Remember a mail for the control API."""
        with self.lock:
            self.mails.append(mail)

    def mails_json(self, to: str | None = None) -> list[dict[str, Any]]:
        """Sent mails, oldest first, optionally only those to one address."""
        with self.lock:
            mails = list(self.mails)
        return [m.as_json() for m in mails if to is None or m.to.lower() == to.lower()]

    def mail_counts(self) -> dict[str, int]:
        """How many mails were delivered, and how many were not (lost, failed or still delayed)."""
        with self.lock:
            delivered = sum(1 for m in self.mails if m.delivered)
            return {"sent": len(self.mails), "delivered": delivered}

    def cookie_lifetime(self, login_lifetime: float | None) -> float:
        """Seconds until the new cookies' Expires."""
        if self.settings.cookie_lifetime is not None:
            return self.settings.cookie_lifetime
        return login_lifetime if login_lifetime is not None else DEFAULT_COOKIE_LIFETIME

    def reset(self) -> None:
        """Forget attempts, tokens and mails (settings stay)."""
        with self.lock:
            self.xsrf.clear()
            self.attempts.clear()
            self.mails.clear()
