"""What a person can copy in seconds, turned into an account's login: cookies plus the app's address-bar URL.

Cookies come in one of three shapes, recognised automatically:
- the browser-extension JSON export (Cookie-Editor, EditThisCookie, ...): an array of
  `{name, value, domain, path, expirationDate, session, ...}`, also `{"cookies": [...]}` (Playwright's storage
  state, `expires`), Selenium's `expiry`, or a plain `{"name": "value"}` object;
- a Netscape `cookies.txt` (tab-separated: domain, subdomains flag, path, secure, expiry, name, value;
  `#HttpOnly_` domain prefixes understood);
- a raw `Cookie:` request header, with or without the `Cookie:` prefix.

The URL is the one in the address bar after login: `https://business.gemini.google/cid/<configId>?csesidx=<n>`
(`/home/cid/...`, further path segments and a missing scheme are fine; the host is not checked so a simulator's
URL works too). Framework-free; every error is a `CookiePasteError` naming what is missing, never a value.
"""
from __future__ import annotations

import datetime
import email.utils
import json
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SES_COOKIE = "__Secure-C_SES"
OSES_COOKIE = "__Host-C_OSES"
BUSINESS_HOST = "business.gemini.google"
MAX_PASTE_CHARS = 512 * 1024
CID_PATH = re.compile(r"/cid/([A-Za-z0-9][A-Za-z0-9._-]*)(?:/|$)")
NETSCAPE_FLAGS = {"TRUE", "FALSE"}
COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
HEADER_PREFIX = re.compile(r"^\s*cookie\s*:\s*", re.IGNORECASE)


class CookiePasteError(ValueError):
    """The paste cannot give a login; `field` is "cookies" or "url" (which input to fix)."""

    field = "cookies"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnrecognizedCookies(CookiePasteError):
    """The cookie text is none of the three formats (or is empty, too long, or broken JSON)."""


class CookieMissing(CookiePasteError):
    """A needed cookie is not in the paste; `name` says which."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class AccountUrlInvalid(CookiePasteError):
    """The URL lacks the config id or the csesidx; `part` says which ("url", "config_id", "csesidx")."""

    field = "url"

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class PastedCookie:
    """One cookie as pasted; `expires` is None for session cookies and formats without expiry."""

    name: str
    value: str
    domain: str = ""
    expires: datetime.datetime | None = None


@dataclass(frozen=True)
class PastedLogin:
    """Everything an account needs from a paste."""

    config_id: str
    csesidx: str
    secure_c_ses: str
    host_c_oses: str  # "" only when the caller allowed it to be missing
    expires_at: datetime.datetime | None  # expiry of __Secure-C_SES (UTC) when the format carries one
    source_format: str  # "json", "netscape" or "header"

    def __repr__(self) -> str:  # cookie values are secrets: keep them out of logs and tracebacks
        return (f"PastedLogin(config_id={self.config_id!r}, csesidx={self.csesidx!r}, "
                f"expires_at={self.expires_at!r}, source_format={self.source_format!r})")


def parse_cookie_paste(cookies: str, url: str, *, require_host_c_oses: bool = True) -> PastedLogin:
    """The login in a cookie paste plus the account URL; raises a CookiePasteError subclass."""
    config_id, csesidx = parse_account_url(url)
    source_format, jar = parse_cookies(cookies)
    ses = _pick(jar, SES_COOKIE)
    oses = _pick(jar, OSES_COOKIE)
    if ses is None:
        raise _missing(SES_COOKIE, jar)
    if oses is None and require_host_c_oses:
        raise _missing(OSES_COOKIE, jar)
    return PastedLogin(config_id=config_id, csesidx=csesidx, secure_c_ses=ses.value,
                       host_c_oses=oses.value if oses else "", expires_at=ses.expires, source_format=source_format)


def parse_account_url(url: str) -> tuple[str, str]:
    """(config id, csesidx) from the app's URL; raises AccountUrlInvalid."""
    text = (url or "").strip()
    if not text:
        raise AccountUrlInvalid("Paste the URL from the address bar, like "
                                f"https://{BUSINESS_HOST}/cid/<configId>?csesidx=<number>.", part="url")
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    parts = urllib.parse.urlsplit(text)
    match = CID_PATH.search(parts.path)
    if match is None:
        raise AccountUrlInvalid("The URL has no /cid/<configId> part: copy it from the address bar once the "
                                "Gemini Business app has opened.", part="config_id")
    values = urllib.parse.parse_qs(parts.query).get("csesidx", [])
    if not values or not values[0].strip():
        raise AccountUrlInvalid("The URL has no csesidx=<number> parameter: copy the whole address, "
                                "including the part after '?'.", part="csesidx")
    csesidx = values[0].strip()
    if not csesidx.isdigit():
        raise AccountUrlInvalid("The URL's csesidx must be a number.", part="csesidx")
    return match.group(1), csesidx


def parse_cookies(text: str) -> tuple[str, list[PastedCookie]]:
    """(format, cookies) of a paste in any of the three formats; raises UnrecognizedCookies."""
    text = (text or "").lstrip("\ufeff").strip()
    if not text:
        raise UnrecognizedCookies("The cookie paste is empty.")
    if len(text) > MAX_PASTE_CHARS:
        raise UnrecognizedCookies(f"The cookie paste is longer than {MAX_PASTE_CHARS // 1024} KiB.")
    if text[0] in "[{":
        return "json", _from_json(text)
    netscape = _from_netscape(text)
    if netscape is not None:
        return "netscape", netscape
    header = _from_header(text)
    if header:
        return "header", header
    raise UnrecognizedCookies("The cookies are in no known format: paste a browser extension's JSON export, "
                              "a cookies.txt file, or a Cookie: header.")


# ---- the three formats --------------------------------------------------------------------------


def _from_json(text: str) -> list[PastedCookie]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UnrecognizedCookies(f"The cookie paste looks like JSON but is not valid JSON ({exc.msg}, "
                                  f"line {exc.lineno}).") from None
    if isinstance(data, dict) and isinstance(data.get("cookies"), list):
        data = data["cookies"]
    if isinstance(data, dict) and "name" in data and "value" in data:
        data = [data]  # one cookie copied on its own
    if isinstance(data, dict):
        if all(isinstance(v, str) for v in data.values()):
            return [PastedCookie(name=str(k), value=v) for k, v in data.items()]
        raise UnrecognizedCookies("The JSON is neither a cookie export (an array of cookies) nor a "
                                  "{\"name\": \"value\"} object.")
    if not isinstance(data, list):
        raise UnrecognizedCookies("The JSON cookie export must be an array of cookies.")
    cookies = []
    for index, row in enumerate(data):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or "value" not in row:
            raise UnrecognizedCookies(f"Cookie {index + 1} of the JSON export has no name and value.")
        cookies.append(PastedCookie(name=row["name"], value=str(row["value"]), domain=str(row.get("domain") or ""),
                                    expires=None if row.get("session") is True else _json_expiry(row)))
    return cookies


def _json_expiry(row: dict[str, Any]) -> datetime.datetime | None:
    for key in ("expirationDate", "expires", "expiry"):
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _epoch(value)
        if isinstance(value, str) and value.strip():
            return _date_text(value)
    return None


def _from_netscape(text: str) -> list[PastedCookie] | None:
    """Cookies of a cookies.txt, or None when the text is not one."""
    cookies, seen_rows = [], False
    for raw in text.splitlines():
        line = raw.strip()
        http_only = line.startswith("#HttpOnly_")
        if not line or (line.startswith("#") and not http_only):
            continue
        fields = line.split("\t") if line.count("\t") >= 6 else line.split()
        if len(fields) != 7 or fields[1].upper() not in NETSCAPE_FLAGS or fields[3].upper() not in NETSCAPE_FLAGS:
            return None
        seen_rows = True
        domain, _, _, _, expiry, name, value = fields
        cookies.append(PastedCookie(name=name, value=value, domain=domain.removeprefix("#HttpOnly_"),
                                    expires=_epoch(int(expiry)) if expiry.isdigit() else None))
    return cookies if seen_rows else None


def _from_header(text: str) -> list[PastedCookie]:
    body = HEADER_PREFIX.sub("", text, count=1)
    cookies = []
    for pair in re.split(r"[;\r\n]+", body):
        name, sep, value = pair.strip().partition("=")
        if sep and name.strip():
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies.append(PastedCookie(name=name.strip(), value=value))
    return cookies


# ---- choosing and dating cookies ----------------------------------------------------------------


def _pick(jar: Iterable[PastedCookie], name: str) -> PastedCookie | None:
    """The cookie the business host would get: its domain matches, non-empty; the longest-lived wins."""
    candidates = [c for c in jar if c.name == name and c.value and _domain_matches(c.domain)]
    if not candidates:
        return None
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return max(candidates, key=lambda c: c.expires or far)


def _domain_matches(domain: str) -> bool:
    """Empty (header format) or a domain the business host sends the cookie to."""
    host = domain.strip().lstrip(".").lower()
    return not host or BUSINESS_HOST == host or BUSINESS_HOST.endswith("." + host) or _is_local(host)


def _is_local(host: str) -> bool:
    # A login captured from the project's simulator runs on loopback.
    return host in ("localhost", "127.0.0.1", "[::1]", "::1")


def _missing(name: str, jar: list[PastedCookie]) -> CookieMissing:
    others = [c for c in jar if c.name == name]
    if others:
        domains = ", ".join(sorted({c.domain or "?" for c in others}))
        return CookieMissing(f"{name} is in the paste only for {domains}, not for {BUSINESS_HOST} (or it is "
                             "empty): export the cookies of business.gemini.google.", name=name)
    # Only names that are cookie-name tokens: a mangled paste can put a value where a name should be.
    names = sorted({c.name for c in jar if COOKIE_NAME.fullmatch(c.name)})
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return CookieMissing(f"{name} is not in the paste (found {len(jar)} cookies: {shown or 'none'}): export the "
                         f"cookies while on {BUSINESS_HOST}, signed in.", name=name)


def _epoch(seconds: float) -> datetime.datetime | None:
    if seconds <= 0:
        return None  # -1 / 0 mean a session cookie in Playwright's and cookies.txt's exports
    try:
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _date_text(value: str) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
