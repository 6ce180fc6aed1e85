"""accounts.cookie_paste: a browser-extension JSON export, a cookies.txt or a Cookie: header, plus the app URL."""
from __future__ import annotations

import datetime
import json

import pytest

from accounts.cookie_paste import (
    AccountUrlInvalid,
    CookieMissing,
    CookiePasteError,
    UnrecognizedCookies,
    parse_account_url,
    parse_cookie_paste,
    parse_cookies,
)

URL = "https://business.gemini.google/cid/3f2a9c1e-7b7d-4c55-9a51-0e6a1b2c3d4e?csesidx=2026259595"
CONFIG_ID = "3f2a9c1e-7b7d-4c55-9a51-0e6a1b2c3d4e"
SES = "CSE.AXUaAjf5-long-value_with.dots=="
OSES = "COS.AXUaAjfNo-other-value"
EXPIRY = 1_800_000_000.5
EXPIRY_DT = datetime.datetime.fromtimestamp(EXPIRY, tz=datetime.UTC)


def extension_export(**overrides) -> str:
    """What Cookie-Editor / EditThisCookie export for business.gemini.google."""
    rows = [
        {"domain": ".gemini.google", "expirationDate": EXPIRY, "hostOnly": False, "httpOnly": True,
         "name": "__Secure-C_SES", "path": "/", "sameSite": "no_restriction", "secure": True, "session": False,
         "storeId": "0", "value": SES},
        {"domain": "business.gemini.google", "expirationDate": EXPIRY, "hostOnly": True, "httpOnly": True,
         "name": "__Host-C_OSES", "path": "/", "sameSite": "lax", "secure": True, "session": False,
         "storeId": "0", "value": OSES},
        {"domain": ".google", "expirationDate": EXPIRY + 9e6, "name": "NID", "path": "/", "value": "511=abc"},
    ]
    for row in rows:
        row.update(overrides.get(row["name"], {}))
    return json.dumps(rows, indent=2)


NETSCAPE = (
    "# Netscape HTTP Cookie File\n"
    "# https://curl.se/docs/http-cookies.html\n"
    "\n"
    f"#HttpOnly_.gemini.google\tTRUE\t/\tTRUE\t1800000000\t__Secure-C_SES\t{SES}\n"
    f"#HttpOnly_business.gemini.google\tFALSE\t/\tTRUE\t1800000000\t__Host-C_OSES\t{OSES}\n"
    ".google\tTRUE\t/\tFALSE\t0\tNID\t511=abc\n"
)


# ---- the three formats ---------------------------------------------------------------------------


def test_a_browser_extension_json_export_is_read() -> None:
    login = parse_cookie_paste(extension_export(), URL)
    assert (login.config_id, login.csesidx) == (CONFIG_ID, "2026259595")
    assert (login.secure_c_ses, login.host_c_oses) == (SES, OSES)
    assert login.expires_at == EXPIRY_DT and login.source_format == "json"


def test_a_netscape_cookies_txt_is_read() -> None:
    login = parse_cookie_paste(NETSCAPE, URL)
    assert (login.secure_c_ses, login.host_c_oses, login.source_format) == (SES, OSES, "netscape")
    assert login.expires_at == datetime.datetime.fromtimestamp(1_800_000_000, tz=datetime.UTC)


def test_a_cookies_txt_whose_tabs_became_spaces_still_reads() -> None:
    login = parse_cookie_paste(NETSCAPE.replace("\t", "    "), URL)
    assert (login.secure_c_ses, login.source_format) == (SES, "netscape")


@pytest.mark.parametrize("header", [
    f"Cookie: NID=511=abc; __Secure-C_SES={SES}; __Host-C_OSES={OSES}",
    f"cookie:__Secure-C_SES={SES};__Host-C_OSES={OSES}",
    f"__Secure-C_SES={SES}; __Host-C_OSES={OSES}",
    f'  __Secure-C_SES="{SES}";\n__Host-C_OSES={OSES};  \n',
])
def test_a_raw_cookie_header_is_read_with_or_without_the_prefix(header) -> None:
    login = parse_cookie_paste(header, URL)
    assert (login.secure_c_ses, login.host_c_oses) == (SES, OSES)
    assert login.expires_at is None and login.source_format == "header"


def test_values_containing_equals_signs_survive_the_header_format() -> None:
    login = parse_cookie_paste("__Secure-C_SES=a=b==; __Host-C_OSES=c=", URL)
    assert (login.secure_c_ses, login.host_c_oses) == ("a=b==", "c=")


@pytest.mark.parametrize("wrapped", [
    lambda rows: json.dumps({"cookies": rows}),  # Playwright storage state
    lambda rows: json.dumps(rows),
])
def test_playwright_and_selenium_expiry_keys_are_understood(wrapped) -> None:
    rows = [{"name": "__Secure-C_SES", "value": SES, "domain": "business.gemini.google", "expires": EXPIRY},
            {"name": "__Host-C_OSES", "value": OSES, "domain": "business.gemini.google", "expiry": -1}]
    login = parse_cookie_paste(wrapped(rows), URL)
    assert login.expires_at == EXPIRY_DT


def test_a_session_cookie_has_no_expiry() -> None:
    text = extension_export(**{"__Secure-C_SES": {"session": True, "expirationDate": None}})
    assert parse_cookie_paste(text, URL).expires_at is None


def test_a_textual_expiry_is_read_as_utc() -> None:
    text = extension_export(**{"__Secure-C_SES": {"expirationDate": "2027-01-15T10:00:00Z"}})
    assert parse_cookie_paste(text, URL).expires_at == datetime.datetime(2027, 1, 15, 10, tzinfo=datetime.UTC)


def test_a_name_value_object_and_a_single_cookie_object_are_accepted() -> None:
    assert parse_cookie_paste(json.dumps({"__Secure-C_SES": SES, "__Host-C_OSES": OSES}), URL).secure_c_ses == SES
    single = json.dumps({"name": "__Secure-C_SES", "value": SES, "expirationDate": EXPIRY})
    login = parse_cookie_paste(single, URL, require_host_c_oses=False)
    assert (login.secure_c_ses, login.host_c_oses, login.expires_at) == (SES, "", EXPIRY_DT)


def test_a_byte_order_mark_and_surrounding_blank_lines_do_not_matter() -> None:
    assert parse_cookie_paste("\ufeff\n\n" + extension_export() + "\n\n", URL).secure_c_ses == SES


# ---- choosing among several cookies of one name ---------------------------------------------------


def test_a_cookie_for_another_site_is_not_taken() -> None:
    rows = json.loads(extension_export())
    rows.append({"name": "__Secure-C_SES", "value": "from-another-site", "domain": "example.com",
                 "expirationDate": EXPIRY + 1e6})
    assert parse_cookie_paste(json.dumps(rows), URL).secure_c_ses == SES


def test_of_two_matching_cookies_the_longer_lived_wins() -> None:
    rows = json.loads(extension_export())
    rows.append({"name": "__Secure-C_SES", "value": "older", "domain": "business.gemini.google",
                 "expirationDate": EXPIRY - 3600})
    login = parse_cookie_paste(json.dumps(rows), URL)
    assert (login.secure_c_ses, login.expires_at) == (SES, EXPIRY_DT)


def test_a_simulator_login_on_loopback_is_accepted() -> None:
    rows = [{"name": "__Secure-C_SES", "value": SES, "domain": "127.0.0.1", "expirationDate": EXPIRY},
            {"name": "__Host-C_OSES", "value": OSES, "domain": "127.0.0.1"}]
    login = parse_cookie_paste(json.dumps(rows), "http://127.0.0.1:8765/cid/team-1?csesidx=1001")
    assert (login.config_id, login.csesidx, login.secure_c_ses) == ("team-1", "1001", SES)


# ---- what is missing -----------------------------------------------------------------------------


def test_a_missing_session_cookie_is_named_with_the_cookies_found() -> None:
    with pytest.raises(CookieMissing) as caught:
        parse_cookie_paste("NID=1; SID=2", URL)
    assert caught.value.name == "__Secure-C_SES" and caught.value.field == "cookies"
    assert "__Secure-C_SES" in caught.value.message and "NID, SID" in caught.value.message


def test_a_missing_host_cookie_is_named_unless_allowed() -> None:
    with pytest.raises(CookieMissing) as caught:
        parse_cookie_paste(f"__Secure-C_SES={SES}", URL)
    assert caught.value.name == "__Host-C_OSES"
    login = parse_cookie_paste(f"__Secure-C_SES={SES}", URL, require_host_c_oses=False)
    assert (login.secure_c_ses, login.host_c_oses) == (SES, "")


def test_an_empty_cookie_value_counts_as_missing() -> None:
    with pytest.raises(CookieMissing, match="__Secure-C_SES"):
        parse_cookie_paste(f"__Secure-C_SES=; __Host-C_OSES={OSES}", URL)


def test_a_cookie_only_for_another_domain_says_so() -> None:
    rows = [{"name": "__Secure-C_SES", "value": SES, "domain": "accounts.google.com"},
            {"name": "__Host-C_OSES", "value": OSES, "domain": "business.gemini.google"}]
    with pytest.raises(CookieMissing, match="only for accounts.google.com"):
        parse_cookie_paste(json.dumps(rows), URL)


def test_error_messages_never_contain_cookie_values() -> None:
    rows = [{"name": "__Secure-C_SES", "value": "SECRET-VALUE-1", "domain": "example.com"},
            {"name": "OTHER", "value": "SECRET-VALUE-2", "domain": "business.gemini.google"}]
    for paste in (json.dumps(rows), "OTHER=SECRET-VALUE-2"):
        with pytest.raises(CookiePasteError) as caught:
            parse_cookie_paste(paste, URL)
        assert "SECRET-VALUE" not in str(caught.value)
    login = parse_cookie_paste(f"__Secure-C_SES={SES}; __Host-C_OSES={OSES}", URL)
    assert SES not in repr(login) and OSES not in repr(login)


def test_a_mangled_paste_does_not_echo_values_as_cookie_names() -> None:
    mangled = '"value": "SECRET-VALUE-3=abc",\nNID=1'  # JSON lines without their brackets
    with pytest.raises(CookieMissing) as caught:
        parse_cookie_paste(mangled, URL)
    assert "SECRET-VALUE" not in caught.value.message and "found 2 cookies: NID" in caught.value.message


@pytest.mark.parametrize(("paste", "needle"), [
    ("", "empty"),
    ("   \n ", "empty"),
    ("[{\"name\": \"a\", ", "not valid JSON"),
    ("[1, 2]", "Cookie 1 of the JSON export has no name and value"),
    ("{\"a\": 1}", "neither a cookie export"),
    ("\"just a string\"", "no known format"),
    ("hello world", "no known format"),
    ("x" * (600 * 1024), "longer than 512 KiB"),
])
def test_unrecognizable_pastes_say_what_was_expected(paste, needle) -> None:
    with pytest.raises(UnrecognizedCookies) as caught:
        parse_cookie_paste(paste, URL)
    assert needle in caught.value.message and caught.value.field == "cookies"


def test_json_that_is_a_plain_number_is_unrecognized() -> None:
    with pytest.raises(UnrecognizedCookies):
        parse_cookies("42")


# ---- the URL --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    URL,
    f"  {URL}  ",
    f"business.gemini.google/cid/{CONFIG_ID}?csesidx=2026259595",
    f"https://business.gemini.google/home/cid/{CONFIG_ID}?csesidx=2026259595",
    f"https://business.gemini.google/cid/{CONFIG_ID}/r/session/123?csesidx=2026259595&hl=en#top",
    f"https://business.gemini.google/cid/{CONFIG_ID}/?hl=en&csesidx=2026259595",
])
def test_the_url_gives_the_config_id_and_csesidx(url) -> None:
    assert parse_account_url(url) == (CONFIG_ID, "2026259595")


@pytest.mark.parametrize(("url", "part"), [
    ("", "url"),
    ("https://business.gemini.google/", "config_id"),
    ("https://auth.business.gemini.google/login?continueUrl=x", "config_id"),
    (f"https://business.gemini.google/cid/{CONFIG_ID}", "csesidx"),
    (f"https://business.gemini.google/cid/{CONFIG_ID}?csesidx=", "csesidx"),
    (f"https://business.gemini.google/cid/{CONFIG_ID}?csesidx=12ab", "csesidx"),
])
def test_a_url_without_its_parts_names_the_missing_one(url, part) -> None:
    with pytest.raises(AccountUrlInvalid) as caught:
        parse_cookie_paste(f"__Secure-C_SES={SES}; __Host-C_OSES={OSES}", url)
    assert caught.value.part == part and caught.value.field == "url"


def test_the_url_is_checked_before_the_cookies() -> None:
    with pytest.raises(AccountUrlInvalid):
        parse_cookie_paste("", "https://business.gemini.google/")


def test_every_error_is_a_value_error_for_callers_that_catch_broadly() -> None:
    assert issubclass(CookiePasteError, ValueError)
    for cls in (UnrecognizedCookies, CookieMissing, AccountUrlInvalid):
        assert issubclass(cls, CookiePasteError)
