"""Everything the simulator remembers: accounts, issued keys, sessions, files, injected faults, statistics."""
from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SESSION_PREFIX = "collections/default_collection/engines/agentspace-engine/sessions/"
PROJECT_NUMBER = "418263840251"
FULL_SESSION_PREFIX = f"projects/{PROJECT_NUMBER}/locations/global/{SESSION_PREFIX}"

ENDPOINTS = ("getoxsrf", "createSession", "streamAssist", "addContextFile", "listSessionFileMetadata",
             "downloadFile")
GETOXSRF_FAULTS = frozenset({"302", "refreshcookies", "missing_keys"})
STREAM_FAULTS = frozenset({"429_during", "truncate", "malformed", "skipped", "thought_only", "image", "video",
                           "hang_mid_stream", "utoken_only"})
GENERIC_FAULTS = frozenset({"401", "403", "404_session", "429", "429_before", "500", "503", "400",
                            "slow_first_byte", "armor", "base64"})
ALL_FAULTS = GETOXSRF_FAULTS | STREAM_FAULTS | GENERIC_FAULTS


@dataclass
class SimAccount:
    """One seat the simulator accepts; `team_id=None` accepts any configId (accept-any mode)."""

    csesidx: str
    secure_c_ses: str
    team_id: str | None = None
    host_c_oses: str = ""
    user_agent: str = ""
    available: bool = True


@dataclass
class SimFile:
    """An uploaded or generated file, bound to one session."""

    file_id: str
    name: str
    mime_type: str
    data: bytes
    origin: str  # USER_UPLOADED | AI_GENERATED
    session_id: str

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
        if self.fault in STREAM_FAULTS:
            return endpoint == "streamAssist"
        if self.fault == "base64":
            return endpoint == "downloadFile"
        if self.fault == "armor":
            return endpoint == "addContextFile"
        return endpoint != "getoxsrf"


def parse_fault(spec: str) -> tuple[str, str | None]:
    """`name`, `name=arg` or `name:arg` -> (name, arg); raises ValueError for unknown names."""
    for sep in ("=", ":"):
        if sep in spec:
            name, arg = spec.split(sep, 1)
            break
    else:
        name, arg = spec, None
    name = name.strip()
    if name not in ALL_FAULTS:
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


def load_accounts(path: str | Path) -> list[SimAccount]:
    """Accounts from a business_gemini_session.json file (the original tool's format)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    accounts = []
    for row in data.get("accounts", []):
        accounts.append(SimAccount(csesidx=str(row["csesidx"]), secure_c_ses=str(row["secure_c_ses"]),
                                   team_id=str(row["team_id"]), host_c_oses=str(row.get("host_c_oses") or ""),
                                   user_agent=str(row.get("user_agent") or ""),
                                   available=bool(row.get("available", True))))
    return accounts


class SimState:
    """Shared, lock-protected state of one simulator instance."""

    def __init__(self, accounts: list[SimAccount], *, accept_any_account: bool = False) -> None:
        self.lock = threading.Lock()
        self.accounts = {a.csesidx: a for a in accounts}
        self.accept_any_account = accept_any_account
        self.keys: dict[str, tuple[bytes, str]] = {}  # keyId -> (HMAC key, csesidx)
        self.sessions: dict[str, SimSession] = {}
        self.faults: list[FaultRule] = []
        self._next_rule = 1
        self.reset_stats()

    # ---- accounts & keys ----------------------------------------------------------------------

    def add_account(self, account: SimAccount) -> None:
        """Register (or replace) an account."""
        with self.lock:
            self.accounts[account.csesidx] = account

    def account_for_login(self, csesidx: str, c_ses: str, c_oses: str) -> SimAccount | None:
        """The account if these cookies are right (accept-any mode creates it); None = dead cookies."""
        with self.lock:
            account = self.accounts.get(csesidx)
            if account is None and self.accept_any_account and c_ses:
                account = self.accounts[csesidx] = SimAccount(csesidx=csesidx, secure_c_ses=c_ses,
                                                              host_c_oses=c_oses)
        if account is None or not secrets.compare_digest(account.secure_c_ses, c_ses):
            return None
        if account.host_c_oses and c_oses and not secrets.compare_digest(account.host_c_oses, c_oses):
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

    def take_fault(self, endpoint: str, csesidx: str | None) -> FaultRule | None:
        """The first matching fault rule, with one use consumed."""
        with self.lock:
            for rule in self.faults:
                if rule.matches(endpoint, csesidx):
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
                "faults_injected": self.counters["faults_injected"],
                "faults_pending": [{"id": r.rule_id, "fault": r.fault, "arg": r.arg, "csesidx": r.csesidx,
                                    "endpoint": r.endpoint, "remaining": r.remaining} for r in self.faults],
                "sessions": len(self.sessions),
                # Sessions asked more than one question (gempool gives every request a session of its own).
                "sessions_reused": sum(1 for session in self.sessions.values() if session.turns > 1),
            }
