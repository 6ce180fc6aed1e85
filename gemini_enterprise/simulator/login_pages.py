"""HTML of the simulated login pages, in variants that use different candidates of the fact sheet's lists.

Variant "a" uses each element's first candidate, "b" (Chinese texts) the second ones, "c" the generic last
ones (and mails the code without a "Send code" step). README "Logging in" has the table.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass

from gemini_enterprise.simulator.login_state import LoginAttempt


@dataclass(frozen=True)
class PageVariant:
    """Element attributes and texts of one variant of the login pages."""

    lang: str
    xsrf_meta: bool
    xsrf_input: bool
    email_input: str  # attributes of the email <input>
    continue_button: tuple[str, str]  # (attributes, text) of the email form's button
    send_button: tuple[str, str] | None  # the "Send code" button; None = the code is mailed at once
    code_input: str  # attributes of the real (visually hidden) code <input>
    code_prompt: str
    verify_button: tuple[str, str]
    resend: str
    wrong_code: str
    too_many: str
    full_name: str  # placeholder of the onboarding name input
    agree: str


VARIANTS = {
    "a": PageVariant(
        lang="en", xsrf_meta=True, xsrf_input=True,
        email_input='id="email-input" name="loginHint" type="text" autocomplete="email"',
        continue_button=('id="log-in-button" type="submit"', "Continue"),
        send_button=('id="sign-in-with-email" type="button"', "Send code"),
        code_input='name="pinInput" type="text" autocomplete="one-time-code" maxlength="6"',
        code_prompt="We sent a 6-character code to {email}. Enter it below.",
        verify_button=('jsname="XooR8e" type="submit"', "Verify"),
        resend="Resend code", wrong_code="Wrong code. Please try again.",
        too_many="Too many attempts. Please start over.", full_name="Full name", agree="Agree &amp; get started"),
    "b": PageVariant(
        lang="zh", xsrf_meta=False, xsrf_input=True,
        email_input='name="loginHint" jsname="YPqjbf" type="text"',
        continue_button=('jsname="jXw9Fb" type="submit"', "继续"),
        send_button=('type="button" class="send-code"', "通过电子邮件发送验证码"),
        code_input='jsname="ovqh0b" name="code" type="text" maxlength="6"',
        code_prompt="请输入我们发送到 {email} 的 6 位验证码。",
        verify_button=('jsname="XooR8e" type="submit"', "验证"),
        resend="重新发送验证码", wrong_code="验证码有误，请重试。", too_many="验证码输入次数已超出上限",
        full_name="全名", agree="同意并开始使用"),
    "c": PageVariant(
        lang="en", xsrf_meta=True, xsrf_input=False,
        email_input='name="email" type="email"',
        continue_button=('type="submit"', "Next"),
        send_button=None,
        code_input='name="otp" type="tel" autocomplete="one-time-code" maxlength="6"',
        code_prompt="We sent a 6-character code to {email}.",
        verify_button=('type="submit"', "Verify"),
        resend="Resend", wrong_code="That code is incorrect.", too_many="Too many attempts. Try again later.",
        full_name="Full name", agree="I agree"),
}

STYLE = """<style>
body{font-family:sans-serif;max-width:440px;margin:48px auto}
.pin{position:relative;display:flex;gap:8px;margin:16px 0}
.pin-box{width:40px;height:48px;border:1px solid #888;border-radius:6px;font:24px monospace;text-align:center;
 line-height:48px}
.pin input{position:absolute;inset:0;opacity:0;width:100%;height:100%}
[role=alert]{color:#a00}
</style>"""

CODE_SCRIPT = """<script>
const input = document.getElementById("pin-real");
const boxes = document.querySelectorAll(".pin-box");
if (input) {
  input.addEventListener("input", () => {
    input.value = input.value.toUpperCase().replace(/[^A-Z0-9]/g, "").slice(0, 6);
    boxes.forEach((box, i) => { box.textContent = input.value[i] || ""; });
  });
}
async function sendCode(isResend) {
  const resp = await fetch("/_/AccountVerificationUi/data/batchexecute?rpcids=SendEmailOtp&oobSession="
      + encodeURIComponent(document.body.dataset.session), {method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
      body: "f.req=" + encodeURIComponent('[[["SendEmailOtp","[]",null,"generic"]]]')});
  const text = await resp.text();
  const toast = document.getElementById("toast");
  if (text.includes("SendEmailOtpError") || text.includes("CAPTCHA_CHECK_FAILED")) {
    toast.textContent = "Something went wrong. Please try again later.";
  } else if (isResend) {
    toast.textContent = "Code sent";
  } else {
    location.reload();
  }
}
document.querySelectorAll("[data-send]").forEach((el) => el.addEventListener("click", (event) => {
  event.preventDefault(); sendCode(el.dataset.send === "resend");
}));
</script>"""


def page(title: str, body: str, *, lang: str = "en", head: str = "", attrs: str = "") -> bytes:
    """A whole HTML document."""
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"{head}{STYLE}</head><body{attrs}>{body}</body></html>").encode()


def login_page(variant: PageVariant, *, token: str, continue_url: str) -> bytes:
    """The auth host's email form, with its XSRF token where this variant puts it."""
    head = f'<meta name="xsrf-token" content="{token}">' if variant.xsrf_meta else ""
    hidden = f'<input type="hidden" name="xsrfToken" value="{token}">'
    if not variant.xsrf_input:
        # The form still posts the token: a script copies it from the meta tag, as the real page's JS does.
        hidden = ('<input type="hidden" name="xsrfToken" data-from-meta>'
                  '<script>document.querySelector("[data-from-meta]").value='
                  'document.querySelector("meta[name=xsrf-token]").content;</script>')
    body = (f"<h1>Sign in</h1><p>to continue to Gemini Business</p>"
            f'<form method="post" action="/login/email">{hidden}'
            f'<input type="hidden" name="continueUrl" value="{html.escape(continue_url)}">'
            f'<label>Email <input {variant.email_input} placeholder="Email"></label>'
            f"{_button(*variant.continue_button)}</form>")
    return page("Sign in - Gemini Enterprise", body, lang=variant.lang, head=head)


def verify_page(variant: PageVariant, attempt: LoginAttempt, *, captcha: bool = False) -> bytes:
    """accountverification's /v1/verify-oob-code in the attempt's current state."""
    email = html.escape(attempt.email)
    toast = '<div id="toast" role="alert"></div>'
    if attempt.state == "too_many":
        return page("Verify your email", f"<h1>Verify your email</h1><p role=\"alert\">{variant.too_many}</p>",
                    lang=variant.lang)
    if attempt.state == "send":
        recaptcha = ('<iframe title="reCAPTCHA" width="304" height="78" '
                     'src="/recaptcha/api2/anchor?k=6LdSimulated&amp;size=normal"></iframe>' if captcha else "")
        button = ""
        if variant.send_button is not None:
            attrs, text = variant.send_button
            button = _button(attrs + ' data-send="send"', text)
        body = f"<h1>Verify your email</h1><p>{email}</p>{recaptcha}{button}{toast}"
    else:
        error = f'<p role="alert" class="error">{variant.wrong_code}</p>' if attempt.last_error == "wrong" else ""
        boxes = "".join('<div class="pin-box"></div>' for _ in range(6))
        body = (f"<h1>Verify your email</h1><p>{variant.code_prompt.format(email=email)}</p>{error}"
                f'<form method="post" action="/v1/verify-oob-code?oobSession={attempt.attempt_id}">'
                f'<input type="hidden" name="oobSession" value="{attempt.attempt_id}">'
                f'<div class="pin">{boxes}<input id="pin-real" {variant.code_input}></div>'
                f"{_button(*variant.verify_button)}</form>"
                f'<p><a href="#" data-send="resend">{variant.resend}</a></p>{toast}')
    return page("Verify your email", body + CODE_SCRIPT, lang=variant.lang,
                attrs=f' data-session="{attempt.attempt_id}"')


def _button(attrs: str, text: str) -> str:
    return f"<button {attrs}>{text}</button>"


def stop_page(kind: str) -> bytes:
    """Pages where a person is needed: Access Restricted, Something went wrong, signin-error."""
    if kind == "access_restricted":
        return page("Access Restricted", "<h1>Access Restricted</h1><p>Your organization or email domain "
                    "is not allowed to use Gemini Business. Contact your administrator.</p>")
    if kind == "something_wrong":
        return page("Sign in - Gemini Enterprise", "<h1>Something went wrong</h1><p>We couldn't send a code "
                    "to this email. Please choose another login method.</p>")
    return page("Let's try something else", "<h1>Let's try something else</h1><p>We couldn't sign you in. "
                "<a href=\"/login\">Start over</a></p>")


def onboarding_page(variant: PageVariant) -> bytes:
    """/admin/create: the first login's name step."""
    body = ('<h1>Set up your Gemini Business account</h1><form method="post" action="/admin/create">'
            f'<input formcontrolname="fullName" name="fullName" type="text" placeholder="{variant.full_name}">'
            f'<button class="agree-button" type="submit">{variant.agree}</button></form>')
    return page("Gemini Business", body, lang=variant.lang)


def app_page(*, config_id: str, csesidx: str, days_left: int | None) -> bytes:
    """The business host's app shell at /cid/<configId>, with the trial days left when there is a trial."""
    data = {"configId": config_id, "csesidx": csesidx}
    text = ""
    if days_left is not None:
        data["daysLeft"] = days_left
        text = f'<p class="trial">{days_left} days left in your trial</p>'
    script = "<script>window.WIZ_global_data = " + json.dumps(data, separators=(",", ":")) + ";</script>"
    return page("Gemini Business", f"<h1>Gemini Business</h1>{text}{script}")


def recaptcha_frame() -> bytes:
    """The challenge frame's content (served locally: nothing may reach Google)."""
    return page("reCAPTCHA", '<div class="rc-anchor">I\'m not a robot</div>')
