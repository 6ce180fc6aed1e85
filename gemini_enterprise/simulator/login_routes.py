"""The login pages of the auth, account-verification and business hosts, routed by path on one port."""
from __future__ import annotations

import re
import secrets
import time
import urllib.parse
from collections.abc import Sequence
from email.utils import formatdate
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING

from gemini_enterprise.simulator import login_pages
from gemini_enterprise.simulator.login_state import LoginAttempt, new_code
from gemini_enterprise.simulator.mailer import Mailer, code_message, welcome_message
from gemini_enterprise.simulator.state import SimAccount

if TYPE_CHECKING:
    from gemini_enterprise.simulator.handler import SimHandler

BATCHEXECUTE = "/_/AccountVerificationUi/data/batchexecute"
CID_PATH = re.compile(r"^/(?:home/)?cid/([^/?#]+)(?:/settings)?/?$")
HARD_STOPS = ("access_restricted", "something_wrong")
ROUTES = {"/", "/login", "/login/email", "/v1/verify-oob-code", BATCHEXECUTE, "/admin/create", "/signin-error",
          "/recaptcha/api2/anchor"}


def handles(path: str) -> bool:
    """True for a path of the login pages."""
    return path in ROUTES or CID_PATH.match(path) is not None


def route(handler: SimHandler, verb: str, path: str) -> None:
    """Serve one login-page request."""
    cid = CID_PATH.match(path)
    if cid is not None:
        _app(handler)
    elif path == "/":
        _root(handler)
    elif path == "/login":
        _login(handler)
    elif path == "/login/email":
        _email(handler, verb)
    elif path == "/v1/verify-oob-code":
        _verify(handler, verb)
    elif path == BATCHEXECUTE and verb == "POST":
        _send_code_rpc(handler)
    elif path == "/admin/create":
        _onboarding(handler, verb)
    elif path == "/signin-error":
        _html(handler, 200, login_pages.stop_page("signin_error"))
    elif path == "/recaptcha/api2/anchor":
        _html(handler, 200, login_pages.recaptcha_frame())
    else:
        _html(handler, 405, login_pages.page("Error 405", "<h1>405. That's an error.</h1>"))


# ---- auth host ----------------------------------------------------------------------------------


def _login(handler: SimHandler) -> None:
    book = handler.server.sim.logins
    token = book.issue_xsrf()
    continue_url = handler.query.get("continueUrl", "https://business.gemini.google/")
    body = login_pages.login_page(login_pages.VARIANTS[book.settings.variant], token=token,
                                  continue_url=continue_url)
    _html(handler, 200, body, cookies=[f"__Host-AP_SignInXsrf={token}; Path=/; Secure; HttpOnly; SameSite=Lax"])


def _email(handler: SimHandler, verb: str) -> None:
    """The email, by direct URL (GET) or by the login form (POST)."""
    sim = handler.server.sim
    fields = dict(handler.query)
    if verb == "POST":
        fields.update(_form(handler.body))
    email = fields.get("loginHint") or fields.get("email") or ""
    account = sim.account_by_email(email) if email else None
    if not sim.logins.xsrf_ok(fields.get("xsrfToken", "")) or account is None:
        _redirect(handler, _signin_error_url())
        return
    sim.count("login", account.csesidx)
    faults = sim.take_faults("login", account.csesidx)
    if not account.available:
        faults["access_restricted"] = None  # a banned seat (getoxsrf answers it 403) cannot log in either
    if "signin_error" in faults:
        _redirect(handler, _signin_error_url())
        return
    variant = account.login_variant or sim.logins.settings.variant
    attempt = sim.logins.start(csesidx=account.csesidx, email=account.email, variant=variant, faults=faults)
    if login_pages.VARIANTS[variant].send_button is None and not _blocked(attempt):
        _send_code(handler, attempt)
    _redirect(handler, f"/v1/verify-oob-code?oobSession={attempt.attempt_id}")


def _signin_error_url() -> str:
    return "/signin-error?wiffid=" + secrets.token_urlsafe(12)


def _blocked(attempt: LoginAttempt) -> bool:
    return "captcha" in attempt.faults or any(stop in attempt.faults for stop in HARD_STOPS)


# ---- account-verification host ------------------------------------------------------------------


def _verify(handler: SimHandler, verb: str) -> None:
    """The code page; a POST checks the code."""
    fields = dict(handler.query)
    if verb == "POST":
        fields.update(_form(handler.body))
    attempt = handler.server.sim.logins.attempt(fields.get("oobSession", ""))
    if attempt is None:
        _redirect(handler, _signin_error_url())
        return
    for stop in HARD_STOPS:
        if stop in attempt.faults:
            _html(handler, 200, login_pages.stop_page(stop))
            return
    if verb == "POST" and attempt.state == "code":
        code = (fields.get("pinInput") or fields.get("code") or fields.get("otp") or "").strip().upper()
        if _check_code(handler, attempt, code):
            _logged_in(handler, attempt)
            return
    variant = login_pages.VARIANTS[attempt.variant]
    _html(handler, 200, login_pages.verify_page(variant, attempt, captcha="captcha" in attempt.faults))


def _check_code(handler: SimHandler, attempt: LoginAttempt, code: str) -> bool:
    book = handler.server.sim.logins
    with book.lock:
        if "too_many_codes" in attempt.faults:
            attempt.state = "too_many"
            return False
        if attempt.code_accepted(code, time.time()):
            attempt.state = "done"
            return True
        attempt.wrong += 1
        attempt.last_error = "wrong"
        if attempt.wrong >= book.settings.max_wrong_codes:
            attempt.state = "too_many"
        return False


def _send_code_rpc(handler: SimHandler) -> None:
    """batchexecute `SendEmailOtp`: mails a (new) code; refused while a CAPTCHA is up."""
    attempt = handler.server.sim.logins.attempt(handler.query.get("oobSession", ""))
    if attempt is None or attempt.state not in ("send", "code"):
        _rpc(handler, '[["wrb.fr","SendEmailOtp",null,null,null,[5],"generic"],["er","SendEmailOtpError"]]')
    elif _blocked(attempt):
        _rpc(handler, '[["wrb.fr","SendEmailOtp",null,null,null,[3,null,[["CAPTCHA_CHECK_FAILED"]]],"generic"]]')
    else:
        _send_code(handler, attempt)
        _rpc(handler, '[["wrb.fr","SendEmailOtp","[]",null,null,null,"generic"],["di",41]]')


def _send_code(handler: SimHandler, attempt: LoginAttempt) -> None:
    """Mail a new code (the newest is the only one accepted); faults shape the first mail of the attempt."""
    book = handler.server.sim.logins
    code = new_code()
    with book.lock:
        first = not attempt.codes
        attempt.codes.append(code)
        attempt.code_sent_at = time.time()
        attempt.state = "code"
        if first and "wrong_first_code" in attempt.faults:
            attempt.refused.add(code)
    delay = 0.0
    if first and "slow_mail" in attempt.faults:
        delay = _seconds(attempt.faults["slow_mail"], book.settings.slow_mail_seconds)
    mailer = Mailer(book, handler.server.stopping)
    lang = login_pages.VARIANTS[attempt.variant].lang
    mailer.send(code_message(attempt.email, code, lang), code=code, delay=delay,
                lose=first and "lost_mail" in attempt.faults, junk="junk_mail" in attempt.faults)
    if "decoy_mail" in attempt.faults:
        mailer.send(welcome_message(attempt.email), code=None, delay=delay)


def _logged_in(handler: SimHandler, attempt: LoginAttempt) -> None:
    """New cookies (the old ones stop working), then onboarding or the app."""
    sim = handler.server.sim
    account = sim.renew_login(attempt.csesidx, onboarding="onboarding" in attempt.faults)
    lifetime = sim.logins.cookie_lifetime(sim.login_lifetime)
    expires = formatdate(time.time() + lifetime, usegmt=True)
    cookies = [f"__Secure-C_SES={account.secure_c_ses}; Path=/; Expires={expires}; Secure; HttpOnly; SameSite=None",
               f"__Host-C_OSES={account.host_c_oses}; Path=/; Expires={expires}; Secure; HttpOnly; SameSite=Lax"]
    location = "/admin/create" if account.needs_onboarding else _app_url(account)
    _redirect(handler, location, cookies=cookies)


# ---- business host ------------------------------------------------------------------------------


def _root(handler: SimHandler) -> None:
    account = _session_account(handler)
    _redirect(handler, _app_url(account) if account else _login_url())


def _app(handler: SimHandler) -> None:
    account = _session_account(handler)
    if account is None:
        _redirect(handler, _login_url())
    elif account.needs_onboarding:
        _redirect(handler, "/admin/create")
    elif handler.query.get("csesidx") != account.csesidx:
        _redirect(handler, _app_url(account))
    else:
        _html(handler, 200, login_pages.app_page(config_id=account.team_id or "", csesidx=account.csesidx,
                                                 days_left=account.trial_days_left))


def _onboarding(handler: SimHandler, verb: str) -> None:
    account = _session_account(handler)
    if account is None:
        _redirect(handler, _login_url())
        return
    name = _form(handler.body).get("fullName", "").strip() if verb == "POST" else ""
    if name:
        handler.server.sim.finish_onboarding(account.csesidx, full_name=name)
        Mailer(handler.server.sim.logins, handler.server.stopping).send(welcome_message(account.email), code=None)
        _redirect(handler, _app_url(account))
        return
    variant = login_pages.VARIANTS[account.login_variant or handler.server.sim.logins.settings.variant]
    _html(handler, 200, login_pages.onboarding_page(variant))


def _app_url(account: SimAccount) -> str:
    return f"/cid/{account.team_id or 'default'}?csesidx={account.csesidx}"


def _login_url() -> str:
    return "/login?continueUrl=" + urllib.parse.quote("https://business.gemini.google/", safe="")


def _session_account(handler: SimHandler) -> SimAccount | None:
    jar = SimpleCookie()
    try:
        jar.load(handler.headers.get("Cookie", ""))
    except CookieError:
        return None
    morsel = jar.get("__Secure-C_SES")
    return handler.server.sim.account_by_cookie(morsel.value) if morsel is not None else None


# ---- responses ----------------------------------------------------------------------------------


def _form(body: bytes) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace")))


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default


def _html(handler: SimHandler, code: int, body: bytes, *, cookies: Sequence[str] = ()) -> None:
    _respond(handler, code, body, "text/html; charset=utf-8", [("Set-Cookie", c) for c in cookies])


def _redirect(handler: SimHandler, location: str, *, cookies: Sequence[str] = ()) -> None:
    headers = [("Location", location)] + [("Set-Cookie", c) for c in cookies]
    _respond(handler, 302, b"", "text/html; charset=utf-8", headers)


def _rpc(handler: SimHandler, payload: str) -> None:
    _respond(handler, 200, (")]}'\n\n" + payload).encode(), "application/json; charset=utf-8", [])


def _respond(handler: SimHandler, code: int, body: bytes, content_type: str, headers: list[tuple[str, str]]) -> None:
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
