"""Reading the emailed one-time code over IMAP (password LOGIN, or Microsoft's XOAUTH2).

No Django models here: the flow runs this from a thread that drives a browser, where the ORM may not be
used, so everything it needs arrives as a MailboxAccess. Secrets never enter an exception text or a log line.
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import requests

logger = logging.getLogger(__name__)

HTML_TAG = re.compile(r"<[^>]+>")
NEVER = datetime.min.replace(tzinfo=UTC)
MAX_MESSAGES_PER_FOLDER = 20  # newest candidates fetched per folder; older ones cannot be the current code


class MailboxError(Exception):
    """The mailbox could not be read (connection, login, token). The message is safe to show and store."""


@dataclass(frozen=True)
class MailboxAccess:
    """Everything needed to open one mailbox; built from a logins.models.Mailbox."""

    host: str
    port: int
    username: str
    security: str = "tls"  # "tls" (implicit) or "starttls"
    verify_tls: bool = True
    ca_file: str = ""  # extra trusted CA certificates (PEM), besides the system's
    password: str = field(default="", repr=False)
    oauth_client_id: str = ""
    oauth_refresh_token: str = field(default="", repr=False)
    oauth_tenant: str = "consumers"
    oauth_token_url: str = ""  # with {tenant}; set for Microsoft mailboxes
    folders: tuple[str, ...] = ("INBOX", "Junk")
    catch_all: bool = False
    timeout: float = 20.0
    proxy: str | None = field(default=None, repr=False)  # for the OAuth token call only

    @property
    def uses_oauth(self) -> bool:
        return bool(self.oauth_token_url)


@dataclass(frozen=True)
class CodeRules:
    """What counts as a code mail: from the flow data file (mail section)."""

    senders: tuple[str, ...]
    code_pattern: str  # a regex with one group: the code
    markers: tuple[str, ...] = ()  # text that comes right before the code; empty = anywhere
    require_letter: bool = True  # six digits look like order numbers and ids: refuse unless allowed


@dataclass(frozen=True)
class FoundCode:
    code: str
    received_at: datetime
    message_key: str  # folder + UID: the same mail is never tried twice


def fetch_codes(access: MailboxAccess, rules: CodeRules, *, since: datetime, recipient: str = "",
                exclude: frozenset[str] = frozenset()) -> list[FoundCode]:
    """The codes in mails from the expected sender received at or after `since`, newest first."""
    found: list[FoundCode] = []
    with _connect(access) as imap:
        for folder in access.folders:
            found.extend(_codes_in_folder(imap, folder, access, rules, since, recipient, exclude))
    found.sort(key=lambda item: item.received_at, reverse=True)
    return found


def check_access(access: MailboxAccess) -> int:
    """Log in and count the first folder's messages: proves the settings work (the console's Test button)."""
    with _connect(access) as imap:
        status, data = imap.select(_quote(access.folders[0] if access.folders else "INBOX"), readonly=True)
        if status != "OK":
            raise MailboxError(f"the server has no folder {access.folders[0]!r}")
        return int(data[0] or 0)


class _connect:
    """Context manager: an authenticated IMAP connection, logged out on exit."""

    def __init__(self, access: MailboxAccess) -> None:
        self.access = access
        self.imap: imaplib.IMAP4 | None = None

    def __enter__(self) -> imaplib.IMAP4:
        access = self.access
        try:
            context = _tls_context(access)
            if access.security == "starttls":
                self.imap = imaplib.IMAP4(access.host, access.port, timeout=access.timeout)
                self.imap.starttls(ssl_context=context)
            else:
                self.imap = imaplib.IMAP4_SSL(access.host, access.port, ssl_context=context,
                                              timeout=access.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"cannot reach {access.host}:{access.port}: {_describe(exc)}") from None
        except UnicodeError:  # a host name the resolver cannot encode (IDNA), saved before it was validated
            raise MailboxError(f"{access.host!r} is not a valid host name") from None
        try:
            _authenticate(self.imap, access)
        except BaseException:
            self._close()
            raise
        return self.imap

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.imap is None:
            return
        try:
            self.imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # the server went away first; nothing is left to release
        self.imap = None


def _tls_context(access: MailboxAccess) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if access.ca_file:
        context.load_verify_locations(cafile=access.ca_file)
    if not access.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _authenticate(imap: imaplib.IMAP4, access: MailboxAccess) -> None:
    try:
        if access.uses_oauth:
            token = microsoft_access_token(access)
            blob = f"user={access.username}\x01auth=Bearer {token}\x01\x01".encode()
            imap.authenticate("XOAUTH2", lambda _challenge: blob)
        else:
            imap.login(access.username, access.password)
    except imaplib.IMAP4.error:
        # The server's text may echo what was sent; say only what failed.
        raise MailboxError(f"the server refused the login of {access.username}") from None
    except OSError as exc:
        raise MailboxError(f"connection lost during login: {_describe(exc)}") from None


def microsoft_access_token(access: MailboxAccess) -> str:
    """Trade the stored refresh token for an access token (scope: IMAP) at the configured endpoint."""
    url = access.oauth_token_url.replace("{tenant}", access.oauth_tenant or "consumers")
    data = {"client_id": access.oauth_client_id, "grant_type": "refresh_token",
            "refresh_token": access.oauth_refresh_token,
            "scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"}
    proxies = {"http": access.proxy, "https": access.proxy} if access.proxy else None
    try:
        response = requests.post(url, data=data, timeout=access.timeout, proxies=proxies)
    except requests.RequestException as exc:
        raise MailboxError(f"the OAuth token endpoint did not answer ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    token = body.get("access_token") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(token, str) or not token:
        error = body.get("error", "") if isinstance(body, dict) else ""
        raise MailboxError(f"the OAuth token endpoint refused the refresh token (HTTP {response.status_code}"
                           f"{', ' + str(error)[:60] if error else ''})")
    return token


def _codes_in_folder(imap: imaplib.IMAP4, folder: str, access: MailboxAccess, rules: CodeRules, since: datetime,
                     recipient: str, exclude: frozenset[str]) -> list[FoundCode]:
    status, _ = imap.select(_quote(folder), readonly=True)
    if status != "OK":
        return []  # the server has no such folder (not every one has a Junk folder)
    found = []
    for uid in _search(imap, rules, since)[-MAX_MESSAGES_PER_FOLDER:]:
        key = f"{folder}/{uid.decode()}"
        if key in exclude:
            continue
        message, received_at = _fetch(imap, uid)
        if message is None or received_at < since:
            continue
        if not _from_expected_sender(message, rules) or (access.catch_all and not _addressed_to(message, recipient)):
            continue
        code = extract_code(_text_of(message), rules)
        if code:
            found.append(FoundCode(code=code, received_at=received_at, message_key=key))
    return found


def _search(imap: imaplib.IMAP4, rules: CodeRules, since: datetime) -> list[bytes]:
    # SINCE has a day's resolution (and the server's time zone): take the day before, filter exactly later.
    day = (since - timedelta(days=1)).strftime("%d-%b-%Y")
    criteria = ["SINCE", day]
    senders = list(rules.senders)
    if len(senders) == 1:
        criteria += ["FROM", _quote(senders[0])]
    status, data = imap.uid("SEARCH", *criteria)
    if status != "OK" or not data or not data[0]:
        return []
    return data[0].split()


def _fetch(imap: imaplib.IMAP4, uid: bytes) -> tuple[EmailMessage | None, datetime]:
    status, data = imap.uid("FETCH", uid, "(INTERNALDATE BODY.PEEK[])")
    for part in data if status == "OK" else []:
        if isinstance(part, tuple) and len(part) == 2:
            # The server's arrival time, not the Date header (which the sender writes).
            received = imaplib.Internaldate2tuple(part[0])  # a local-time struct_time
            when = datetime.fromtimestamp(time.mktime(received), tz=UTC) if received else NEVER
            return email.message_from_bytes(part[1], policy=email.policy.default), when
    return None, NEVER


def _from_expected_sender(message: EmailMessage, rules: CodeRules) -> bool:
    address = email.utils.parseaddr(str(message.get("From", "")))[1].lower()
    return address in {sender.lower() for sender in rules.senders}


def _addressed_to(message: EmailMessage, recipient: str) -> bool:
    if not recipient:
        return True
    # Only the headers present: getaddresses() refuses the whole list (strict parsing) when one is empty.
    headers = [str(message[name]) for name in ("To", "Cc", "Delivered-To", "X-Original-To") if message[name]]
    addresses = {address.lower() for _, address in email.utils.getaddresses(headers)}
    return recipient.lower() in addresses


def _text_of(message: EmailMessage) -> str:
    parts = []
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError):
            continue
        if part.get_content_subtype() == "html":
            content = HTML_TAG.sub(" ", content)
        parts.append(content)
    subject = str(message.get("Subject", ""))
    return subject + "\n" + "\n".join(parts)


def extract_code(text: str, rules: CodeRules) -> str:
    """The first code after a marker phrase (or anywhere, with no markers); '' when there is none."""
    pattern = re.compile(rules.code_pattern)
    regions = [text]
    if rules.markers:
        regions = []
        for marker in rules.markers:
            index = text.lower().find(marker.lower())
            if index >= 0:
                regions.append(text[index + len(marker):])
    for region in regions:
        for match in pattern.finditer(region):
            code = match.group(1) if pattern.groups else match.group(0)
            if rules.require_letter and code.isdigit():
                continue
            return code
    return ""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or 'handshake failed'})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return type(exc).__name__
