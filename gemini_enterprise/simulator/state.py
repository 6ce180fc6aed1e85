"""Everything the simulator remembers: accounts, issued keys, sessions, files, injected faults, statistics."""
from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemini_enterprise.simulator.login_state import VARIANT_NAMES, LoginBook

logger = logging.getLogger(__name__)

SESSION_PREFIX = "collections/default_collection/engines/agentspace-engine/sessions/"
PROJECT_NUMBER = "418263840251"
FULL_SESSION_PREFIX = f"projects/{PROJECT_NUMBER}/locations/global/{SESSION_PREFIX}"

ENDPOINTS = ("getoxsrf", "createSession", "streamAssist", "addContextFile", "listSessionFileMetadata",
             "downloadFile", "login")
GETOXSRF_FAULTS = frozenset({"302", "refreshcookies", "missing_keys"})
STREAM_FAULTS = frozenset({"429_during", "truncate", "malformed", "skipped", "thought_only", "image", "video",
                           "hang_mid_stream", "utoken_only", "image_late", "image_missing"})
GENERIC_FAULTS = frozenset({"401", "403", "404_session", "429", "429_before", "429_quota", "500", "503", "400",
                            "slow_first_byte", "armor", "base64"})
ALL_FAULTS = GETOXSRF_FAULTS | STREAM_FAULTS | GENERIC_FAULTS
# Faults of the login pages and the code mail (README "Logging in"); they apply to one login attempt each.
LOGIN_FAULTS = frozenset({"wrong_first_code", "slow_mail", "lost_mail", "decoy_mail", "junk_mail", "onboarding",
                          "captcha", "access_restricted", "signin_error", "something_wrong", "too_many_codes"})
FAULT_NAMES = ALL_FAULTS | LOGIN_FAULTS


@dataclass
class SimAccount:
    """One seat the simulator accepts; `team_id=None` accepts any configId (accept-any mode)."""

    csesidx: str
    secure_c_ses: str
    team_id: str | None = None
    host_c_oses: str = ""
    user_agent: str = ""
    available: bool = True
    email: str = ""  # where the login pages send this seat's one-time code
    login_expires_at: float | None = None  # epoch seconds; None = the login never expires
    needs_onboarding: bool = False  # the next login passes the /admin/create page
    trial_days_left: int | None = 30  # shown on the /cid/ pages; None = not shown
    login_variant: str | None = None  # login page variant for this seat (None = the server's default)
    full_name: str = ""

    def login_expired(self, now: float) -> bool:
        """True once the login's lifetime is over (getoxsrf then answers EXPIRED_SIGN_IN)."""
        return self.login_expires_at is not None and now >= self.login_expires_at


@dataclass
class SimFile:
    """An uploaded or generated file, bound to one session."""

    file_id: str
    name: str
    mime_type: str
    data: bytes
    origin: str  # USER_UPLOADED | AI_GENERATED
    session_id: str
    listed_from: float = 0.0  # time.monotonic() from which widgetListSessionFileMetadata shows it

    @property
    def listed(self) -> bool:
        return time.monotonic() >= self.listed_from

    @property
    def token_count(self) -> int:
        """A stand-in token count (about four bytes per token)."""
        return max(1, len(self.data) // 4)


@dataclass
class SimSession:
    """A server-side session and the files bound to it."""

    session_id: str
    csesidx: str
    files: dict[str, SimFile] = field(default_factory=dict)
    turns: int = 0
    pending_tools: Any = None  # the simulator.toolcalls.ToolPlan a broken answer still owes


@dataclass
class FaultRule:
    """An injected fault: matches an account (None = all) and an endpoint (None = where the fault applies)."""

    fault: str
    arg: str | None = None
    csesidx: str | None = None
    endpoint: str | None = None
    remaining: int | None = None  # None = forever
    rule_id: int = 0

    def matches(self, endpoint: str, csesidx: str | None) -> bool:
        """True if this rule applies to a call of `endpoint` by `csesidx`."""
        if self.csesidx is not None and self.csesidx != csesidx:
            return False
        if self.endpoint is not None:
            return self.endpoint == endpoint
        if self.fault in GETOXSRF_FAULTS:
            return endpoint == "getoxsrf"
        if self.fault in LOGIN_FAULTS:
            return endpoint == "login"
        if self.fault in STREAM_FAULTS:
            return endpoint == "streamAssist"
        if self.fault == "base64":
            return endpoint == "downloadFile"
        if self.fault == "armor":
            return endpoint == "addContextFile"
        return endpoint not in ("getoxsrf", "login")


def parse_fault(spec: str) -> tuple[str, str | None]:
    """`name`, `name=arg` or `name:arg` -> (name, arg); raises ValueError for unknown names."""
    for sep in ("=", ":"):
        if sep in spec:
            name, arg = spec.split(sep, 1)
            break
    else:
        name, arg = spec, None
    name = name.strip()
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r}")
    return name, (arg.strip() if arg is not None else None)


def normalize_endpoint(name: str | None) -> str | None:
    """Accept `streamAssist`, `widgetStreamAssist`, `getoxsrf`...; raise ValueError on anything else."""
    if name is None:
        return None
    short = name.removeprefix("widget")
    short = short[:1].lower() + short[1:]
    if short not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {name!r}")
    return short


def account_from_row(row: dict[str, Any]) -> SimAccount:
    """An account from a control-API row; KeyError/TypeError/ValueError on a bad row."""
    expires_in = row.get("login_expires_in")
    days = row.get("trial_days_left", 30)
    variant = row.get("login_variant")
    if variant is not None and variant not in VARIANT_NAMES:
        raise ValueError(f"unknown login_variant {variant!r}")
    return SimAccount(csesidx=str(row["csesidx"]), secure_c_ses=str(row["secure_c_ses"]), team_id=row.get("team_id"),
                      host_c_oses=str(row.get("host_c_oses") or ""), available=bool(row.get("available", True)),
                      email=str(row.get("email") or ""), needs_onboarding=bool(row.get("needs_onboarding", False)),
                      trial_days_left=None if days is None else int(days), login_variant=variant,
                      login_expires_at=None if expires_in is None else time.time() + float(expires_in))


def load_accounts(path: str | Path) -> list[SimAccount]:
    """Accounts from a business_gemini_session.json file (the original tool's format)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    accounts = []
    for row in data.get("accounts", []):
        accounts.append(SimAccount(csesidx=str(row["csesidx"]), secure_c_ses=str(row["secure_c_ses"]),
                                   team_id=str(row["team_id"]), host_c_oses=str(row.get("host_c_oses") or ""),
                                   user_agent=str(row.get("user_agent") or ""),
                                   available=bool(row.get("available", True)),
                                   email=str(row.get("email") or "")))
    return accounts


class SimState:
    """Shared, lock-protected state of one simulator instance."""

    def __init__(self, accounts: list[SimAccount], *, accept_any_account: bool = False) -> None:
        self.lock = threading.Lock()
        self.accounts = {a.csesidx: a for a in accounts}
        self.accept_any_account = accept_any_account
        self.login_lifetime: float | None = None  # seconds a login lasts; None = forever
        self.logins = LoginBook()
        self.keys: dict[str, tuple[bytes, str]] = {}  # keyId -> (HMAC key, csesidx)
        self.sessions: dict[str, SimSession] = {}
        self.faults: list[FaultRule] = []
        self._next_rule = 1
        self.reset_stats()

    # ---- accounts & keys ----------------------------------------------------------------------

    def add_account(self, account: SimAccount) -> None:
        """Register (or replace) an account; with a login lifetime set, its login starts now."""
        with self.lock:
            if account.login_expires_at is None and self.login_lifetime is not None:
                account.login_expires_at = time.time() + self.login_lifetime
            self.accounts[account.csesidx] = account

    def set_login_lifetime(self, seconds: float | None) -> None:
        """Logins last `seconds` from now on (None = forever); logins that never expired start theirs now."""
        with self.lock:
            self.login_lifetime = seconds
            expires = None if seconds is None else time.time() + seconds
            for account in self.accounts.values():
                if seconds is None or account.login_expires_at is None:
                    account.login_expires_at = expires

    def account_by_email(self, email: str) -> SimAccount | None:
        """The seat whose code goes to this address (case-insensitive)."""
        wanted = email.strip().lower()
        with self.lock:
            return next((a for a in self.accounts.values() if a.email and a.email.lower() == wanted), None)

    def account_by_cookie(self, c_ses: str) -> SimAccount | None:
        """The seat logged in with this `__Secure-C_SES` value, while its login lasts."""
        if not c_ses:
            return None
        with self.lock:
            accounts = list(self.accounts.values())
        now = time.time()
        wanted = c_ses.encode()
        return next((a for a in accounts if secrets.compare_digest(a.secure_c_ses.encode(), wanted)
                     and not a.login_expired(now)), None)

    def renew_login(self, csesidx: str, *, onboarding: bool = False) -> SimAccount:
        """A successful login: fresh cookie values (the old ones stop working) and a fresh lifetime;
        `onboarding` makes the seat pass /admin/create first."""
        with self.lock:
            account = self.accounts[csesidx]
            account.needs_onboarding = account.needs_onboarding or onboarding
            account.secure_c_ses = "CSES." + secrets.token_urlsafe(24)
            account.host_c_oses = "COSES." + secrets.token_urlsafe(24)
            account.login_expires_at = None if self.login_lifetime is None else time.time() + self.login_lifetime
            self.counters["logins"] += 1
            return account

    def finish_onboarding(self, csesidx: str, *, full_name: str) -> None:
        """The seat's name is set: /admin/create is done."""
        with self.lock:
            account = self.accounts[csesidx]
            account.full_name = full_name
            account.needs_onboarding = False

    def account_for_login(self, csesidx: str, c_ses: str, c_oses: str) -> SimAccount | None:
        """The account if these cookies are right (accept-any mode creates it); None = dead cookies."""
        with self.lock:
            account = self.accounts.get(csesidx)
            if account is None and self.accept_any_account and c_ses:
                account = self.accounts[csesidx] = SimAccount(csesidx=csesidx, secure_c_ses=c_ses,
                                                              host_c_oses=c_oses)
        if account is None or not secrets.compare_digest(account.secure_c_ses.encode(), c_ses.encode()):
            return None
        if account.login_expired(time.time()):
            return None
        if account.host_c_oses and c_oses and not secrets.compare_digest(account.host_c_oses.encode(),
                                                                         c_oses.encode()):
            return None
        return account

    def issue_key(self, csesidx: str) -> tuple[str, str]:
        """A new (xsrfToken, keyId) pair for the account."""
        key = secrets.token_bytes(28)
        key_id = "AYrB" + secrets.token_urlsafe(12)
        with self.lock:
            self.keys[key_id] = (key, csesidx)
        return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii"), key_id

    # ---- sessions & files ---------------------------------------------------------------------

    def create_session(self, csesidx: str) -> SimSession:
        """A new session with a 19-20 digit id."""
        session = SimSession(session_id=str(secrets.randbelow(9 * 10**19) + 10**18), csesidx=csesidx)
        with self.lock:
            self.sessions[session.session_id] = session
        return session

    def add_file(self, session: SimSession, *, name: str, mime_type: str, data: bytes,
                 origin: str) -> SimFile:
        """Store a file in a session under a fresh numeric id."""
        file = SimFile(file_id=str(secrets.randbelow(9 * 10**15) + 10**15), name=name, mime_type=mime_type,
                       data=data, origin=origin, session_id=session.session_id)
        with self.lock:
            session.files[file.file_id] = file
        return file

    # ---- faults -------------------------------------------------------------------------------

    def add_fault(self, fault: str, *, csesidx: str | None = None, count: int | None = None,
                  endpoint: str | None = None) -> int:
        """Inject a fault; returns its rule id."""
        name, arg = parse_fault(fault)
        rule = FaultRule(fault=name, arg=arg, csesidx=csesidx, endpoint=normalize_endpoint(endpoint),
                         remaining=count)
        with self.lock:
            rule.rule_id = self._next_rule
            self._next_rule += 1
            self.faults.append(rule)
        return rule.rule_id

    def clear_faults(self, csesidx: str | None = None) -> None:
        """Remove every fault, or those of one account."""
        with self.lock:
            self.faults = [r for r in self.faults if csesidx is not None and r.csesidx != csesidx]

    def take_faults(self, endpoint: str, csesidx: str | None) -> dict[str, str | None]:
        """Every matching fault rule (one use of each consumed), as {fault: argument}."""
        taken: dict[str, str | None] = {}
        while (rule := self.take_fault(endpoint, csesidx, skip=set(taken))) is not None:
            taken[rule.fault] = rule.arg
        return taken

    def take_fault(self, endpoint: str, csesidx: str | None, *,
                   skip: Collection[str] = ()) -> FaultRule | None:
        """The first matching fault rule, with one use consumed."""
        with self.lock:
            for rule in self.faults:
                if rule.fault not in skip and rule.matches(endpoint, csesidx):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self.faults.remove(rule)
                    self.counters["faults_injected"] += 1
                    return rule
        return None

    # ---- statistics ---------------------------------------------------------------------------

    def reset_stats(self) -> None:
        """Zero every counter (connection and stream gauges keep their current value)."""
        with self.lock:
            self.requests: Counter[str] = Counter()
            self.by_account: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self.counters: Counter[str] = Counter()
            self.streams_now = getattr(self, "streams_now", 0)
            self.streams_peak = self.streams_now
            self.connections_now = getattr(self, "connections_now", 0)
            self.connections_peak = self.connections_now

    def count(self, endpoint: str, csesidx: str | None) -> None:
        """Count one call of an endpoint."""
        with self.lock:
            self.requests[endpoint] += 1
            if csesidx:
                self.by_account[csesidx][endpoint] += 1

    def gauge(self, name: str, delta: int) -> None:
        """Move the `streams` or `connections` gauge, tracking its peak."""
        with self.lock:
            now = getattr(self, f"{name}_now") + delta
            setattr(self, f"{name}_now", now)
            if now > getattr(self, f"{name}_peak"):
                setattr(self, f"{name}_peak", now)
            if delta > 0:
                self.counters[f"{name}_total"] += 1

    def snapshot(self) -> dict[str, Any]:
        """Statistics as JSON-ready data."""
        with self.lock:
            return {
                "requests": dict(self.requests),
                "by_account": {k: dict(v) for k, v in self.by_account.items()},
                "streams": {"active": self.streams_now, "peak": self.streams_peak,
                            "total": self.counters["streams_total"]},
                "connections": {"open": self.connections_now, "peak": self.connections_peak,
                                "total": self.counters["connections_total"]},
                "jwt_rejected": self.counters["jwt_rejected"],
                "logins": self.counters["logins"],
                "mails": self.logins.mail_counts(),
                "faults_injected": self.counters["faults_injected"],
                "faults_pending": [{"id": r.rule_id, "fault": r.fault, "arg": r.arg, "csesidx": r.csesidx,
                                    "endpoint": r.endpoint, "remaining": r.remaining} for r in self.faults],
                "sessions": len(self.sessions),
                # Sessions asked more than one question (gempool gives every request a session of its own).
                "sessions_reused": sum(1 for session in self.sessions.values() if session.turns > 1),
            }
