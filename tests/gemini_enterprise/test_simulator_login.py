"""The simulator's login pages over plain HTTP: the walk, the variants, the faults, login lifetimes.

Codes are read from the simulator's own mail list here; test_simulator_mail.py reads them from Dovecot.
"""
from __future__ import annotations

import email.utils
import re
import time

import pytest
import requests

from tests.gemini_enterprise.login_walk import LoginWalk, getoxsrf
from tests.polling import wait_until

EXPIRED_BODY = ')]}\'\n{"message":"Session has expired.","status":"EXPIRED_SIGN_IN"}'


def walk(sim, seat) -> LoginWalk:
    return LoginWalk(sim, seat.email)


# ---- the walk ------------------------------------------------------------------------------------


def test_a_login_by_direct_url_ends_on_the_app_with_new_cookies(login_sim, make_seat) -> None:
    seat = make_seat()
    old_cookie = seat.secure_c_ses
    w = walk(login_sim, seat)
    page = w.submit_email()
    assert page.status_code == 200 and "/v1/verify-oob-code?oobSession=" in page.url
    assert 'id="sign-in-with-email"' in page.text and "Send code" in page.text
    assert "SendEmailOtp" in w.send_code().text
    code = w.newest_code()
    assert re.fullmatch(r"[A-Z0-9]{6}", code) and re.search(r"[A-Z]", code)

    done = w.verify(code)

    assert done.status_code == 302
    assert done.headers["Location"] == f"/cid/{seat.team_id}?csesidx={seat.csesidx}"
    assert set(w.cookies) == {"__Secure-C_SES", "__Host-C_OSES"}
    assert w.cookies["__Secure-C_SES"] not in ("", old_cookie) and login_sim.stats()["logins"] == 1
    app = w.get(done.headers["Location"])
    assert app.status_code == 200 and '"daysLeft":30' in app.text and "30 days left" in app.text


def test_the_new_cookies_replace_the_old_ones_at_getoxsrf(login_sim, make_seat) -> None:
    seat = make_seat()
    old = (seat.secure_c_ses, seat.host_c_oses)
    assert getoxsrf(login_sim, seat.csesidx, *old).status_code == 200
    w = walk(login_sim, seat)
    assert w.log_in().status_code == 302

    fresh = getoxsrf(login_sim, seat.csesidx, w.cookies["__Secure-C_SES"], w.cookies["__Host-C_OSES"])
    stale = getoxsrf(login_sim, seat.csesidx, *old)

    assert fresh.status_code == 200 and fresh.text.startswith(")]}'\n") and "xsrfToken" in fresh.text
    assert (stale.status_code, stale.text) == (401, EXPIRED_BODY)


def test_the_cookies_carry_the_attributes_a_browser_needs(login_sim, make_seat) -> None:
    login_sim.configure_login(lifetime=3600)
    w = walk(login_sim, make_seat())
    before = time.time()
    done = w.log_in()
    headers = done.raw.headers.getlist("Set-Cookie")
    ses = next(h for h in headers if h.startswith("__Secure-C_SES="))
    oses = next(h for h in headers if h.startswith("__Host-C_OSES="))
    for header in (ses, oses):
        assert "; Path=/" in header and "; Secure" in header and "; HttpOnly" in header and "Domain" not in header
    expires = email.utils.parsedate_to_datetime(re.search(r"Expires=([^;]+)", ses).group(1)).timestamp()
    assert before + 3600 - 2 <= expires <= time.time() + 3600 + 1


def test_a_login_by_form_uses_the_second_candidates(login_sim, make_seat) -> None:
    seat = make_seat(login_variant="b")
    w = walk(login_sim, seat)
    page = w.submit_email(by_form=True)
    assert "通过电子邮件发送验证码" in page.text and 'id="sign-in-with-email"' not in page.text
    w.send_code()
    code_page = w.get(f"/v1/verify-oob-code?oobSession={w.attempt}").text
    assert 'jsname="ovqh0b"' in code_page and "重新发送验证码" in code_page
    assert w.verify(w.newest_code(), field_name="code").status_code == 302
    assert login_sim.mails(seat.email)[-1]["subject"] == "Gemini Business 验证码"


@pytest.mark.parametrize(
    ("variant", "present", "absent"),
    [
        ("a", ['<meta name="xsrf-token"', 'name="xsrfToken" value=', 'id="email-input"', 'id="log-in-button"'], []),
        ("b", ['name="xsrfToken" value=', 'name="loginHint" jsname="YPqjbf"', 'jsname="jXw9Fb"'],
         ['<meta name="xsrf-token"', 'id="email-input"']),
        ("c", ['<meta name="xsrf-token"', 'type="email"', ">Next</button>"],
         ['name="xsrfToken" value=', 'id="email-input"', 'name="loginHint"', "jsname"]),
    ],
)
def test_each_variant_uses_its_own_candidates_on_the_login_page(login_sim, variant, present, absent) -> None:
    login_sim.configure_login(variant=variant)
    page = requests.get(login_sim.url + "/login", timeout=10).text
    for needle in present:
        assert needle in page, needle
    for needle in absent:
        assert needle not in page, needle


def test_variant_c_mails_the_code_without_a_send_step(login_sim, make_seat) -> None:
    seat = make_seat(login_variant="c")
    w = walk(login_sim, seat)
    page = w.submit_email()
    assert 'type="tel"' in page.text and 'autocomplete="one-time-code"' in page.text and "6-character code" in page.text
    assert len(login_sim.mails(seat.email)) == 1
    assert w.verify(w.newest_code(), field_name="otp").status_code == 302


def test_the_code_page_has_a_hidden_real_input_under_six_boxes(login_sim, make_seat) -> None:
    w = walk(login_sim, make_seat())
    w.submit_email()
    w.send_code()
    page = w.get(f"/v1/verify-oob-code?oobSession={w.attempt}").text
    assert page.count('class="pin-box"') == 6
    assert 'id="pin-real" name="pinInput"' in page and 'jsname="XooR8e"' in page and "Resend code" in page


def test_a_stale_token_or_an_unknown_email_ends_on_signin_error(login_sim, make_seat) -> None:
    seat = make_seat()
    stale = walk(login_sim, seat).submit_email(token="AJnot-a-token")
    unknown = LoginWalk(login_sim, "nobody@mail.test").submit_email()
    for resp in (stale, unknown):
        assert "/signin-error?wiffid=" in resp.url and "Let's try something else" in resp.text
    assert login_sim.mails() == []


def test_a_wrong_code_is_refused_and_too_many_end_the_attempt(login_sim, make_seat) -> None:
    login_sim.configure_login(max_wrong_codes=3)
    w = walk(login_sim, make_seat())
    w.submit_email()
    w.send_code()
    first = w.verify("ZZZZZ9")
    assert first.status_code == 200 and "Wrong code. Please try again." in first.text
    w.verify("ZZZZZ8")
    third = w.verify("ZZZZZ7")
    assert "Too many attempts" in third.text
    assert w.verify(w.newest_code()).status_code == 200  # the right code no longer helps
    assert w.cookies == {}


def test_only_the_newest_code_counts_and_case_does_not_matter(login_sim, make_seat) -> None:
    w = walk(login_sim, make_seat())
    w.submit_email()
    w.send_code()
    first = w.newest_code()
    w.send_code()  # Resend
    assert w.newest_code() != first
    assert "Wrong code" in w.verify(first).text
    assert w.verify(w.newest_code().lower()).status_code == 302


def test_the_app_pages_need_the_cookies_and_add_the_csesidx(login_sim, make_seat) -> None:
    seat = make_seat(trial_days_left=12)
    w = walk(login_sim, seat)
    anonymous = w.get(f"/cid/{seat.team_id}", allow_redirects=False)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login?continueUrl=")
    w.log_in()
    bare = w.get(f"/cid/{seat.team_id}/settings", allow_redirects=False)
    assert bare.headers["Location"] == f"/cid/{seat.team_id}?csesidx={seat.csesidx}"
    root = w.get("/", allow_redirects=False)
    assert root.headers["Location"] == f"/cid/{seat.team_id}?csesidx={seat.csesidx}"
    page = w.get(f"/cid/{seat.team_id}/settings?csesidx={seat.csesidx}").text
    assert '"daysLeft":12' in page and "12 days left in your trial" in page


# ---- faults --------------------------------------------------------------------------------------


def test_wrong_first_code_refuses_the_first_mail_but_not_a_resent_one(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.add_fault("wrong_first_code", csesidx=seat.csesidx, count=1)
    w = walk(login_sim, seat)
    w.submit_email()
    w.send_code()
    assert "Wrong code" in w.verify(w.newest_code()).text
    w.send_code()
    assert w.verify(w.newest_code()).status_code == 302


def test_lost_mail_drops_only_the_first_mail(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.add_fault("lost_mail", csesidx=seat.csesidx, count=1)
    w = walk(login_sim, seat)
    w.submit_email()
    w.send_code()
    w.send_code()
    first, second = login_sim.mails(seat.email)
    assert "lost" in first["error"] and "lost" not in second["error"]


def test_decoy_mail_follows_each_code_from_another_sender(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.add_fault("decoy_mail", csesidx=seat.csesidx, count=1)
    w = walk(login_sim, seat)
    w.submit_email()
    w.send_code()
    code, welcome = login_sim.mails(seat.email)
    assert (code["from"], welcome["from"]) == ("noreply-googlecloud@google.com", "googlecloud@google.com")
    assert welcome["code"] is None and code["code"]


def test_onboarding_asks_for_a_name_before_the_app(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.add_fault("onboarding", csesidx=seat.csesidx, count=1)
    w = walk(login_sim, seat)
    done = w.log_in()
    assert done.headers["Location"] == "/admin/create"
    form = w.get("/admin/create").text
    assert "formcontrolname=\"fullName\"" in form and 'placeholder="Full name"' in form and "agree-button" in form
    assert w.get(f"/cid/{seat.team_id}?csesidx={seat.csesidx}", allow_redirects=False).headers["Location"] \
        == "/admin/create"
    agreed = w.post("/admin/create", data={"fullName": "Ada Operator"}, allow_redirects=False)
    assert agreed.headers["Location"] == f"/cid/{seat.team_id}?csesidx={seat.csesidx}"
    assert login_sim.mails(seat.email)[-1]["from"] == "googlecloud@google.com"


def test_captcha_shows_a_recaptcha_frame_and_refuses_to_send(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.add_fault("captcha", csesidx=seat.csesidx, count=1)
    w = walk(login_sim, seat)
    page = w.submit_email()
    assert re.search(r'<iframe[^>]+src="/recaptcha/api2/anchor', page.text)
    assert "CAPTCHA_CHECK_FAILED" in w.send_code().text
    assert login_sim.mails(seat.email) == []
    assert w.get("/recaptcha/api2/anchor?k=x").status_code == 200


@pytest.mark.parametrize(("fault", "text"), [("access_restricted", "<h1>Access Restricted</h1>"),
                                             ("something_wrong", "choose another login method")])
def test_hard_stops_replace_the_verify_page(login_sim, make_seat, fault, text) -> None:
    seat = make_seat()
    login_sim.add_fault(fault, csesidx=seat.csesidx, count=1)
    page = walk(login_sim, seat).submit_email()
    assert "/v1/verify-oob-code" in page.url and text in page.text
    assert login_sim.mails(seat.email) == []


def test_a_banned_seat_meets_access_restricted(login_sim, make_seat) -> None:
    seat = make_seat(available=False)
    page = walk(login_sim, seat).submit_email()
    assert "<h1>Access Restricted</h1>" in page.text and login_sim.mails(seat.email) == []


def test_signin_error_redirects_the_email_submission(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.add_fault("signin_error", csesidx=seat.csesidx, count=1)
    assert "/signin-error?wiffid=" in walk(login_sim, seat).submit_email().url
    assert walk(login_sim, seat).log_in().status_code == 302  # count=1: the next attempt is clean


def test_too_many_codes_ends_the_attempt_at_the_first_code(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.add_fault("too_many_codes", csesidx=seat.csesidx, count=1)
    w = walk(login_sim, seat)
    w.submit_email()
    w.send_code()
    page = w.verify(w.newest_code())
    assert page.status_code == 200 and "Too many attempts" in page.text and w.cookies == {}


def test_login_faults_apply_only_to_their_seat(login_sim, make_seat) -> None:
    troubled, fine = make_seat(), make_seat()
    login_sim.add_fault("signin_error", csesidx=troubled.csesidx)
    assert walk(login_sim, fine).log_in().status_code == 302
    assert "/signin-error" in walk(login_sim, troubled).submit_email().url


# ---- lifetimes -----------------------------------------------------------------------------------


def test_a_login_expires_after_its_lifetime_with_expired_sign_in(login_sim, make_seat) -> None:
    seat = make_seat()
    login_sim.configure_login(lifetime=0.5)
    assert getoxsrf(login_sim, seat.csesidx, seat.secure_c_ses, seat.host_c_oses).status_code == 200

    def expired() -> bool:
        return getoxsrf(login_sim, seat.csesidx, seat.secure_c_ses, seat.host_c_oses).status_code == 401

    assert wait_until(expired, timeout=5) is not None
    resp = getoxsrf(login_sim, seat.csesidx, seat.secure_c_ses, seat.host_c_oses)
    assert resp.text == EXPIRED_BODY
    assert walk(login_sim, seat).get(f"/cid/{seat.team_id}?csesidx={seat.csesidx}",
                                     allow_redirects=False).status_code == 302


def test_api_calls_with_a_fresh_jwt_fail_once_the_login_expires(login_sim, make_seat) -> None:
    from gemini_enterprise.client import GeminiClient
    from gemini_enterprise.errors import AuthExpired, LoginRequired
    from gemini_enterprise.types import ClientConfig, Credentials

    seat = make_seat()
    creds = Credentials(key="seat", team_id=seat.team_id, csesidx=seat.csesidx, secure_c_ses=seat.secure_c_ses,
                        host_c_oses=seat.host_c_oses)
    with GeminiClient(ClientConfig(auth_url=login_sim.url, api_url=login_sim.url)) as client:
        client.create_session(creds)  # the JWT is minted and cached here
        login_sim.configure_login(lifetime=0.3)
        assert wait_until(lambda: seat.login_expired(time.time()), timeout=5) is not None
        with pytest.raises((AuthExpired, LoginRequired)):
            client.create_session(creds)


def test_a_login_through_the_pages_starts_a_new_lifetime(login_sim, make_seat) -> None:
    seat = make_seat(login_expires_at=time.time() - 1)
    login_sim.configure_login(lifetime=60)
    assert getoxsrf(login_sim, seat.csesidx, seat.secure_c_ses).status_code == 401
    w = walk(login_sim, seat)
    w.log_in()
    assert getoxsrf(login_sim, seat.csesidx, w.cookies["__Secure-C_SES"]).status_code == 200
    assert seat.login_expires_at == pytest.approx(time.time() + 60, abs=5)


# ---- control API ---------------------------------------------------------------------------------


def test_login_settings_and_mails_are_reachable_through_the_control_api(login_sim, make_seat) -> None:
    import urllib.error

    seat = make_seat()
    settings = login_sim.control("POST", "/_sim/login", {"variant": "c", "lifetime": 120, "max_wrong_codes": 2})
    assert (settings["variant"], settings["lifetime"], settings["max_wrong_codes"]) == ("c", 120.0, 2)
    assert login_sim.control("GET", "/_sim/login")["variant"] == "c"
    with pytest.raises(urllib.error.HTTPError):
        login_sim.control("POST", "/_sim/login", {"variant": "z"})
    with pytest.raises(urllib.error.HTTPError):
        login_sim.control("POST", "/_sim/login", {"lifetime": -1})
    walk(login_sim, seat).submit_email()  # variant c: mailed at once
    [mail] = login_sim.control("GET", f"/_sim/login/mail?to={seat.email}")["mails"]
    assert mail["to"] == seat.email and re.fullmatch(r"[A-Z0-9]{6}", mail["code"])
    assert (mail["delivered"], mail["error"]) == (False, "no LMTP server configured")


def test_seats_with_login_fields_can_be_added_through_the_control_api(login_sim) -> None:
    login_sim.control("POST", "/_sim/accounts", {"csesidx": "8800001", "secure_c_ses": "s", "team_id": "abc-1",
                                                 "email": "ctl@mail.test", "login_variant": "b",
                                                 "needs_onboarding": True, "trial_days_left": None,
                                                 "login_expires_in": 30})
    seat = login_sim.state.accounts["8800001"]
    assert (seat.email, seat.login_variant, seat.needs_onboarding, seat.trial_days_left) == \
        ("ctl@mail.test", "b", True, None)
    assert seat.login_expires_at == pytest.approx(time.time() + 30, abs=5)
    w = LoginWalk(login_sim, "ctl@mail.test")
    w.submit_email()
    w.send_code()
    assert w.verify(w.newest_code(), field_name="code").headers["Location"] == "/admin/create"


def test_reset_login_settings_returns_to_the_servers_own(login_sim, make_seat) -> None:
    import urllib.error

    seat = make_seat()
    login_sim.configure_login(lifetime=30, variant="b", lmtp="/nowhere", mail_routes={"*": "x@mail.test"})
    assert seat.login_expires_at is not None
    login_sim.reset_login_settings()
    settings = login_sim.control("GET", "/_sim/login")
    assert (settings["lifetime"], settings["variant"], settings["lmtp"], settings["mail_routes"]) == \
        (None, "a", None, {})
    assert seat.login_expires_at is None
    with pytest.raises(urllib.error.HTTPError):
        login_sim.control("POST", "/_sim/accounts", {"csesidx": "1", "secure_c_ses": "s", "login_variant": "z"})
