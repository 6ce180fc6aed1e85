"""The re-login flow in a real browser: email -> emailed code -> verified -> csesidx, config id, cookies.

Runs under Playwright's sync API, which keeps an event loop on its thread: nothing here touches the ORM.
The caller passes plain inputs (hosts, address, flow data, a code source) and gets a LoginCapture, or a
FlowFailure naming the step reached, whether a person must act (hard), and what the page showed.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit, urlunsplit

from logins.flow_data import FlowData
from logins.mailbox import FoundCode, MailboxError

logger = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
POLL = 0.2  # seconds between looks at the page while waiting for one of several outcomes
MAIL_LOOK_EVERY = 1.0  # seconds between mailbox looks while watching the page (each one is an IMAP login)
SECRET_QUERY_KEYS = {"xsrftoken", "token", "code", "oobcode"}


class FlowFailure(Exception):
    """The flow stopped. `hard` = a person must act (CAPTCHA, access restricted, sign-in error, too many codes)."""

    def __init__(self, step: str, reason: str, *, hard: bool = False) -> None:
        super().__init__(reason)
        self.step, self.reason, self.hard = step, reason, hard
        self.page_url = self.page_title = ""
        self.screenshot = ""


# A code source: given the attempt's cutoff and the mails already tried, the codes found (newest first).
CodeSource = Callable[[datetime, frozenset[str]], list[FoundCode]]


@dataclass(frozen=True)
class FlowInputs:
    email: str
    auth_url: str
    verify_url: str
    business_url: str
    data: FlowData
    codes: CodeSource
    submit: str = "url"  # "url" (direct URL) or "form"
    full_name: str = ""  # typed on the first-login onboarding page
    chromium: str = "/usr/bin/chromium"
    headless: bool = True
    proxy: str | None = field(default=None, repr=False)
    screenshot_path: Path | None = None  # where to save the page when the flow fails
    mail_not_before: datetime | None = None  # the previous attempt's end: its code mail is not this one's
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class LoginCapture:
    team_id: str
    csesidx: str
    secure_c_ses: str = field(repr=False)
    host_c_oses: str = field(repr=False)
    cookie_expires_at: datetime | None
    user_agent: str
    trial_days_left: int | None
    logged_in_at: datetime


def run_login(inputs: FlowInputs, *, on_step: Callable[[str], None] | None = None) -> LoginCapture:
    """Log in once in a fresh browser; raises FlowFailure (with page URL, title and screenshot) on failure.

    `on_step(name)` hears each step as it starts (it runs on this thread, inside Playwright's loop)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=inputs.chromium, args=CHROMIUM_ARGS,
                                             headless=inputs.headless, proxy=browser_proxy(inputs.proxy))
        try:
            context = browser.new_context()
            context.set_default_timeout(inputs.data.timeout("element_seconds") * 1000)
            context.set_default_navigation_timeout(inputs.data.timeout("page_seconds") * 1000)
            page = context.new_page()
            run = _LoginRun(inputs, page, on_step)
            try:
                return run.login()
            except FlowFailure as failure:
                run.describe(failure)
                raise
            except PlaywrightError as exc:
                failure = FlowFailure(run.step, f"browser error: {_first_line(str(exc))}")
                run.describe(failure)
                raise failure from None
        finally:
            browser.close()


def browser_proxy(url: str | None) -> dict | None:
    """Playwright's proxy setting for a proxy URL (credentials go in their own fields, not the server URL)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    server = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    proxy = {"server": server}
    if parts.username:
        proxy["username"] = unquote(parts.username)
        proxy["password"] = unquote(parts.password or "")
    return proxy


class _LoginRun:
    """One attempt's steps on one page."""

    def __init__(self, inputs: FlowInputs, page, on_step: Callable[[str], None] | None) -> None:
        self.inputs, self.page, self.data = inputs, page, inputs.data
        self.on_step = on_step
        self.step = "start"
        self.started = datetime.now(UTC)
        self.refusal_before = False

    def login(self) -> LoginCapture:
        xsrf = self._xsrf_token()
        self._submit_email(xsrf)
        self._reach_code_page()
        self._enter_code()
        self._onboarding_if_shown()
        return self._capture()

    # ---- steps ------------------------------------------------------------------------------

    def _enter(self, step: str) -> None:
        self.step = step
        if self.on_step is not None:
            self.on_step(step)

    def _xsrf_token(self) -> str:
        self._enter("xsrf")
        self._goto(self.data.url("xsrf_page").format(**self._hosts()))
        self._check_hard_stops()
        token = self._read_xsrf()
        if token:
            self._set_xsrf_cookie(token)
        elif self.inputs.submit == "url":
            raise FlowFailure(self.step, "no XSRF token on the login page (the flow file's xsrf section "
                                         "matched nothing)")
        return token

    def _set_xsrf_cookie(self, token: str) -> None:
        """Peers set the sign-in XSRF cookie themselves; a page that already set it needs nothing."""
        from playwright.sync_api import Error as PlaywrightError

        name = self.data.raw["xsrf"].get("cookie")
        if not name or any(cookie["name"] == name for cookie in self.page.context.cookies()):
            return
        try:
            self.page.context.add_cookies([{"name": name, "value": token, "url": self.inputs.auth_url + "/",
                                            "secure": True}])
        except PlaywrightError:
            logger.info("the browser refused the sign-in XSRF cookie", extra={"step": self.step})

    def _submit_email(self, xsrf: str) -> None:
        self._enter("email")
        hosts = self._hosts()
        if self.inputs.submit == "url":
            self._goto(self.data.url("email_direct").format(**hosts, email=quote(self.inputs.email, safe=""),
                                                            xsrf=quote(xsrf, safe="")))
            return
        self._goto(self.data.url("email_form").format(**hosts))
        self._check_hard_stops()
        field_ = self._find("email_input", "the email input")
        field_.fill(self.inputs.email)
        self._find("continue_button", "the continue button").click()

    def _reach_code_page(self) -> None:
        """Press "send code" when the page asks for it; watch for refusals a person has to handle."""
        self._enter("send_code")
        deadline = time.monotonic() + self.data.timeout("element_seconds")
        while time.monotonic() < deadline:
            self._check_hard_stops()
            if self._present("code_input"):
                break
            button = self._visible("send_code_button")
            if button is not None:
                button.click()
                self._settle()
                continue
            self._settle()
        else:
            raise FlowFailure(self.step, "the code page did not appear (no code input matched)")
        # Refusals ("Something went wrong", a CAPTCHA) show up within seconds of the email being sent.
        self._watch_hard_stops(self.data.timeout("hard_stop_watch_seconds"), until_mail=True)

    def _enter_code(self) -> None:
        mail = self.data.mail
        tried: set[str] = set()
        wrong = 0
        while True:
            self._enter("wait_code")
            found = self._wait_for_code(frozenset(tried))
            tried.add(found.message_key)
            self._enter("verify")
            self._type_code(found.code)
            outcome = self._after_code()
            if outcome == "accepted":
                return
            wrong += 1
            logger.info("login code refused", extra={"step": self.step, "wrong_codes": wrong})
            if wrong > int(mail["max_wrong_codes"]):
                raise FlowFailure(self.step, f"{wrong} codes were refused in a row", hard=True)
            self._resend()

    def _onboarding_if_shown(self) -> None:
        if not any(marker in self.page.url for marker in self.data.markers("onboarding")):
            return
        self._enter("onboarding")
        name = self._find("onboarding_name", "the full-name input")
        name.fill(self.inputs.full_name or self.inputs.email.split("@")[0])
        self._find("onboarding_agree", "the agree button").click()

    def _capture(self) -> LoginCapture:
        self._enter("capture")
        config_id, csesidx = self._wait_for_landing()
        if not (config_id and csesidx):
            self._goto(self.data.url("business_home").format(**self._hosts()))
            config_id, csesidx = self._wait_for_landing()
        if not (config_id and csesidx):
            raise FlowFailure(self.step, "logged in, but the page address holds no /cid/<configId>?csesidx=")
        session, oses = self._wait_for_cookies()
        user_agent = self.page.evaluate("navigator.userAgent")
        trial = self._trial_days(config_id, csesidx)
        expires = datetime.fromtimestamp(session["expires"], tz=UTC) if session.get("expires", -1) > 0 else None
        return LoginCapture(team_id=config_id, csesidx=csesidx, secure_c_ses=session["value"],
                            host_c_oses=oses["value"] if oses else "", cookie_expires_at=expires,
                            user_agent=user_agent, trial_days_left=trial, logged_in_at=datetime.now(UTC))

    # ---- code handling ----------------------------------------------------------------------

    def _mail_cutoff(self) -> datetime:
        """Mails older than this are not this attempt's (fixed across resends)."""
        cutoff = self.started - timedelta(seconds=float(self.data.mail["skew_seconds"]))
        if self.inputs.mail_not_before is not None:
            # IMAP arrival times have whole seconds: compare at that resolution.
            cutoff = max(cutoff, self.inputs.mail_not_before.replace(microsecond=0))
        return cutoff

    def _wait_for_code(self, tried: frozenset[str]) -> FoundCode:
        mail = self.data.mail
        cutoff = self._mail_cutoff()
        windows = list(mail["wait_windows_seconds"])
        for number, window in enumerate(windows):
            deadline = time.monotonic() + float(window)
            while True:
                self._check_hard_stops()
                try:
                    codes = self.inputs.codes(cutoff, tried)
                except MailboxError as exc:
                    raise FlowFailure(self.step, f"mailbox: {exc}") from None
                if codes:
                    return codes[0]
                if time.monotonic() >= deadline:
                    break
                self.inputs.sleep(min(float(mail["poll_seconds"]), max(0.05, deadline - time.monotonic())))
            if number < len(windows) - 1:
                logger.info("login code not arrived, asking again", extra={"window": number + 1})
                self._resend()
        raise FlowFailure(self.step, f"no code mail arrived in {sum(windows):g} s (after {len(windows) - 1} resends)")

    def _type_code(self, code: str) -> None:
        field_ = self._find("code_input", "the code input", visible=False)
        # A refusal shown before this submit must not be read as the verdict on this code: mark the
        # document, and trust the wrong-code text only once the page has been replaced.
        self.refusal_before = self._text_shown("wrong_code")
        self.page.evaluate("window.__gempoolSubmitted = true")
        try:
            field_.fill(code, timeout=2000)
        except Exception:  # noqa: BLE001 - Playwright refuses hidden inputs; type into the focused one instead
            field_.evaluate("element => element.focus()")
            self.page.keyboard.type(code, delay=30)
        button = self._visible("verify_button")
        if button is not None:
            button.click()
        else:
            self.page.keyboard.press("Enter")

    def _after_code(self) -> str:
        """'accepted' once the page leaves the verify page for the business host, 'wrong' on a refusal."""
        deadline = time.monotonic() + self.data.timeout("after_login_seconds")
        verify = self.data.markers("verify")
        while time.monotonic() < deadline:
            self._check_hard_stops()
            url = self.page.url
            if self.data.success_pattern.search(url) or any(m in url for m in self.data.markers("onboarding")):
                return "accepted"
            if self._text_shown("wrong_code") and (not self.refusal_before or self._page_replaced()):
                return "wrong"
            if not any(m in url for m in verify) and url.startswith(self.inputs.auth_url):
                return "wrong"  # bounced back to the auth host
            self._settle()
        raise FlowFailure(self.step, "the code was typed, but the page neither accepted nor refused it")

    def _page_replaced(self) -> bool:
        try:
            return not self.page.evaluate("window.__gempoolSubmitted === true")
        except Exception:  # noqa: BLE001 - navigating right now: not replaced yet
            return False

    def _resend(self) -> None:
        button = self._visible("resend_button")
        if button is None:
            logger.info("no resend control on the page", extra={"step": self.step})
            return
        button.click()
        self._settle()

    # ---- landing, cookies, trial ------------------------------------------------------------

    def _wait_for_landing(self) -> tuple[str, str]:
        deadline = time.monotonic() + self.data.timeout("after_login_seconds")
        while time.monotonic() < deadline:
            self._check_hard_stops()
            match = self.data.success_pattern.search(self.page.url)
            if match:
                csesidx = parse_qs(urlsplit(self.page.url).query).get("csesidx", [""])[0]
                if csesidx.isdigit():
                    return match.group("config_id"), csesidx
            self._settle()
        return "", ""

    def _wait_for_cookies(self) -> tuple[dict, dict | None]:
        names = self.data.raw["cookies"]
        deadline = time.monotonic() + self.data.timeout("cookie_poll_seconds")
        while True:
            jar = {cookie["name"]: cookie for cookie in self.page.context.cookies()}
            session, oses = jar.get(names["session"]), jar.get(names["oses"])
            if session and oses:
                return session, oses
            if time.monotonic() >= deadline:
                if session:
                    return session, None
                raise FlowFailure(self.step, f"logged in, but no {names['session']} cookie was set")
            self._settle()

    def _trial_days(self, config_id: str, csesidx: str) -> int | None:
        patterns = [re.compile(p, re.IGNORECASE) for p in self.data.raw["trial"]["patterns"]]
        pages = [None, *self.data.raw["urls"]["trial_pages"]]  # None: the page already open
        for template in pages:
            if template is not None:
                try:
                    self._goto(template.format(**self._hosts(), config_id=config_id, csesidx=csesidx))
                except FlowFailure:
                    continue  # the trial is a nicety: a missing page must not fail a good login
            content = self.page.content()
            for pattern in patterns:
                match = pattern.search(content)
                if match:
                    return int(match.group(1))
        return None

    # ---- page helpers -----------------------------------------------------------------------

    def _hosts(self) -> dict[str, str]:
        inputs = self.inputs
        return {"auth": inputs.auth_url, "verify": inputs.verify_url, "business": inputs.business_url,
                "continue": quote(inputs.business_url + "/", safe="")}

    def _goto(self, url: str) -> None:
        from playwright.sync_api import Error as PlaywrightError

        try:
            self.page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise FlowFailure(self.step, f"could not open {safe_url(url)}: {_first_line(str(exc))}") from None

    def _read_xsrf(self) -> str:
        xsrf = self.data.raw["xsrf"]
        for selector in xsrf["meta"]:
            value = self._attribute(selector, "content")
            if value:
                return value
        for selector in xsrf["input"]:
            value = self._attribute(selector, "value")
            if value:
                return value
        content = self.page.content()
        for pattern in xsrf["script_patterns"]:
            match = re.search(pattern, content)
            if match:
                return match.group(1)
        return parse_qs(urlsplit(self.page.url).query).get(xsrf.get("url_param", "xsrfToken"), [""])[0]

    def _attribute(self, selector: str, name: str) -> str:
        locator = self.page.locator(selector).first
        return (locator.get_attribute(name, timeout=1000) or "") if locator.count() else ""

    def _present(self, name: str) -> bool:
        return any(self.page.locator(selector).count() for selector in self.data.selectors(name))

    def _visible(self, name: str):
        for selector in self.data.selectors(name):
            locator = self.page.locator(selector).first
            if locator.count() and locator.is_visible():
                return locator
        return None

    def _find(self, name: str, what: str, *, visible: bool = True):
        deadline = time.monotonic() + self.data.timeout("element_seconds")
        while time.monotonic() < deadline:
            self._check_hard_stops()
            if visible:
                found = self._visible(name)
            else:
                found = next((self.page.locator(s).first for s in self.data.selectors(name)
                              if self.page.locator(s).count()), None)
            if found is not None:
                return found
            self._settle()
        raise FlowFailure(self.step, f"{what} was not found (no selector of selectors.{name} matched)")

    def _text_shown(self, name: str) -> bool:
        try:
            body = self.page.inner_text("body", timeout=1000).lower()
        except Exception:  # noqa: BLE001 - the page is navigating; the next look decides
            return False
        return any(text.lower() in body for text in self.data.texts(name))

    def _settle(self) -> None:
        self.page.wait_for_timeout(POLL * 1000)

    def _check_hard_stops(self) -> None:
        url = self.page.url
        if any(marker in url for marker in self.data.markers("sign_in_error")):
            raise FlowFailure(self.step, "Google showed its sign-in error page", hard=True)
        if self._visible("captcha") is not None:
            raise FlowFailure(self.step, "Google asked for a CAPTCHA", hard=True)
        if self._visible("access_restricted") is not None:
            raise FlowFailure(self.step, "Google says: Access Restricted", hard=True)
        if self._text_shown("too_many_attempts"):
            raise FlowFailure(self.step, "Google says: too many wrong codes", hard=True)
        if self._text_shown("sign_in_error"):
            raise FlowFailure(self.step, "Google says: something went wrong, choose another login method",
                              hard=True)

    def _watch_hard_stops(self, seconds: float, *, until_mail: bool) -> None:
        """Look for refusals for a while; a code mail arriving first ends the watch (the send worked)."""
        deadline = time.monotonic() + seconds
        next_mail_look = 0.0
        while time.monotonic() < deadline:
            self._check_hard_stops()
            if until_mail and time.monotonic() >= next_mail_look:
                next_mail_look = time.monotonic() + MAIL_LOOK_EVERY
                try:
                    if self.inputs.codes(self._mail_cutoff(), frozenset()):
                        return
                except MailboxError:
                    return  # the code step reports mailbox trouble with its own message
            self._settle()

    def describe(self, failure: FlowFailure) -> None:
        """Fill in what the page showed, and save a screenshot (the file name holds no secret)."""
        try:
            failure.page_url = safe_url(self.page.url)
            failure.page_title = self.page.title()[:300]
        except Exception:  # noqa: BLE001 - a crashed page still leaves the failure to report
            return
        path = self.inputs.screenshot_path
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(path), full_page=True)
            failure.screenshot = path.name
        except Exception as exc:  # noqa: BLE001 - the failure matters more than its picture
            logger.warning("failure screenshot not saved", extra={"error": type(exc).__name__})


def safe_url(url: str) -> str:
    """The URL without the query values that are one-time secrets (the XSRF token, a code)."""
    parts = urlsplit(url)
    if not parts.query:
        return url[:1000]
    query = [(key, "…" if key.lower() in SECRET_QUERY_KEYS else value)
             for key, values in parse_qs(parts.query, keep_blank_values=True).items() for value in values]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="…@"), ""))[:1000]


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]
