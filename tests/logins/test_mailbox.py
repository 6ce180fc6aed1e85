"""Reading the one-time code over IMAP from a real Dovecot: password LOGIN and Microsoft-style XOAUTH2."""
from __future__ import annotations

import imaplib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gemini_enterprise.simulator.mailer import code_message, welcome_message
from logins.flow_data import load_flow_data
from logins.mailbox import CodeRules, MailboxAccess, MailboxError, check_access, extract_code, fetch_codes
from tests.mailserver import MailServer

RULES = load_flow_data().code_rules()
REFRESH_TOKEN = "ms-refresh-token-0f9e"


def access_for(box, **overrides) -> MailboxAccess:
    values = {"host": box.host, "port": box.port, "username": box.address, "password": box.password,
              "ca_file": box.cafile, "timeout": 10}
    values.update(overrides)
    return MailboxAccess(**values)


def append(box, message, *, folder: str = "INBOX", at: datetime | None = None) -> None:
    """Put a message in a folder with a chosen arrival time (LMTP always delivers 'now' to INBOX)."""
    with box.imap() as imap:
        imap.create(folder)
        when = imaplib.Time2Internaldate((at or datetime.now(UTC)).timestamp())
        status, _ = imap.append(folder, None, when, bytes(message))
        assert status == "OK"


def test_only_fresh_mails_from_the_expected_sender_count_newest_first(mailbox):
    now = datetime.now(UTC)
    append(mailbox, code_message(mailbox.address, "OLD111", "en"), at=now - timedelta(minutes=10))
    append(mailbox, welcome_message(mailbox.address))  # googlecloud@google.com: another sender
    forged = code_message(mailbox.address, "FAKE22", "en")
    forged.replace_header("From", "Google Cloud <noreply-googlecloud@google.com.evil.test>")
    append(mailbox, forged)
    append(mailbox, code_message(mailbox.address, "ABC123", "en"), at=now - timedelta(seconds=20))
    append(mailbox, code_message(mailbox.address, "JUNK9Z", "zh"), folder="Junk", at=now - timedelta(seconds=5))

    found = fetch_codes(access_for(mailbox), RULES, since=now - timedelta(seconds=30))

    # The footer's six-digit reference is never taken for a code; the Junk folder is read too.
    assert [item.code for item in found] == ["JUNK9Z", "ABC123"]
    assert found[0].message_key.startswith("Junk/")
    again = fetch_codes(access_for(mailbox), RULES, since=now - timedelta(seconds=30),
                        exclude=frozenset({found[0].message_key}))
    assert [item.code for item in again] == ["ABC123"]


def test_a_catch_all_mailbox_gives_each_address_its_own_code(mailbox):
    append(mailbox, code_message("seat-a@seats.test", "AAAA11", "en"))
    append(mailbox, code_message("seat-b@seats.test", "BBBB22", "en"))
    access = access_for(mailbox, catch_all=True)
    since = datetime.now(UTC) - timedelta(seconds=30)
    assert [c.code for c in fetch_codes(access, RULES, since=since, recipient="SEAT-A@seats.test")] == ["AAAA11"]
    assert [c.code for c in fetch_codes(access, RULES, since=since, recipient="seat-b@seats.test")] == ["BBBB22"]


def test_a_wrong_password_is_reported_without_it(mailbox):
    with pytest.raises(MailboxError, match="refused the login") as error:
        check_access(access_for(mailbox, password="Wrong-Secret-77"))
    assert "Wrong-Secret-77" not in str(error.value)


def test_an_untrusted_certificate_is_refused_unless_verification_is_off(mailbox):
    with pytest.raises(MailboxError, match="TLS error"):
        check_access(access_for(mailbox, ca_file=""))
    assert check_access(access_for(mailbox, ca_file="", verify_tls=False)) == 0


@pytest.mark.parametrize(("text", "code"), [
    ("Your code:\n\n    U3W8E6\n", "U3W8E6"),
    ("Code ABCDEF, ref 204817", "ABCDEF"),
    ("Ref 204817 only digits", ""),
    ("lowercase abcdef is no code", ""),
])
def test_the_code_is_six_capitals_or_digits_with_a_letter(text, code):
    assert extract_code(text, RULES) == code


def test_markers_narrow_the_search_to_what_follows_them():
    rules = CodeRules(senders=("x@y",), code_pattern=r"\b([A-Z0-9]{6})\b", markers=("verification code:",))
    assert extract_code("GOOGLE LLC header\nYour verification code: K7P2QX", rules) == "K7P2QX"
    assert extract_code("GOOGLE LLC header with no marker", rules) == ""


# ---- Microsoft: OAuth refresh token -> access token -> AUTHENTICATE XOAUTH2 ------------------------


class OAuthStub:
    """Microsoft's token endpoint (refresh token -> access token) and the introspection Dovecot asks."""

    def __init__(self) -> None:
        self.issued: dict[str, str] = {}  # access token -> address
        self.address = ""
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                stub.requests.append({"path": self.path, **form})
                status, body = stub.answer(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, path: str, form: dict) -> tuple[int, dict]:
        if path.endswith("/oauth2/v2.0/token"):
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH_TOKEN:
                return 400, {"error": "invalid_grant", "error_description": "AADSTS70000: bad grant"}
            token = f"access-{len(self.issued)}-{time.monotonic_ns()}"
            self.issued[token] = self.address
            return 200, {"token_type": "Bearer", "access_token": token, "expires_in": 3600}
        address = self.issued.get(form.get("token", ""))
        return 200, {"active": address is not None, "email": address or ""}


class XOAuthMailServer(MailServer):
    """The test Dovecot, also accepting XOAUTH2 with tokens the stub issued (Dovecot's oauth2 passdb)."""

    def __init__(self, introspection_url: str) -> None:
        super().__init__()
        self.introspection_url = introspection_url

    def _write_config(self) -> None:
        super()._write_config()
        conf = self.root / "dovecot.conf"
        (self.root / "oauth2.conf.ext").write_text(
            f"introspection_mode = post\nintrospection_url = {self.introspection_url}\n"
            "username_attribute = email\nactive_attribute = active\nactive_value = true\n")
        passdb = f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2\n  args = {self.root}/oauth2.conf.ext\n}}\n"
        conf.write_text(conf.read_text().replace("auth_mechanisms = plain login", "auth_mechanisms = plain xoauth2")
                        + passdb)


@pytest.fixture(scope="module")
def oauth_mail(mailserver) -> Iterator[tuple[OAuthStub, XOAuthMailServer]]:
    stub = OAuthStub()
    server = XOAuthMailServer(stub.url + "/introspect").start()
    yield stub, server
    server.stop()
    stub.httpd.shutdown()


def test_a_microsoft_mailbox_trades_its_refresh_token_and_logs_in_with_xoauth2(oauth_mail):
    stub, server = oauth_mail
    box = server.add_mailbox()
    stub.address = box.address
    append(box, code_message(box.address, "MS7COD", "en"))
    access = access_for(box, password="", oauth_client_id="app-id-1", oauth_refresh_token=REFRESH_TOKEN,
                        oauth_tenant="consumers", oauth_token_url=stub.url + "/{tenant}/oauth2/v2.0/token")

    found = fetch_codes(access, RULES, since=datetime.now(UTC) - timedelta(seconds=30))

    assert [item.code for item in found] == ["MS7COD"]
    token_call = next(r for r in stub.requests if r["path"] == "/consumers/oauth2/v2.0/token")
    assert (token_call["client_id"], token_call["refresh_token"]) == ("app-id-1", REFRESH_TOKEN)
    assert "IMAP.AccessAsUser.All" in token_call["scope"]
    assert any(r["path"] == "/introspect" for r in stub.requests)  # Dovecot checked the bearer token


def test_a_refused_refresh_token_is_reported_without_it(oauth_mail):
    stub, server = oauth_mail
    box = server.add_mailbox()
    access = access_for(box, password="", oauth_client_id="app", oauth_refresh_token="Stale-Refresh-Token-3",
                        oauth_token_url=stub.url + "/{tenant}/oauth2/v2.0/token")
    with pytest.raises(MailboxError, match=r"refused the refresh token \(HTTP 400, invalid_grant\)") as error:
        check_access(access)
    assert "Stale-Refresh-Token-3" not in str(error.value)
