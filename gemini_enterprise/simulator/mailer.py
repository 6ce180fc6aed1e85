"""The one-time code mail (and Google's welcome mail), delivered over LMTP the way mail really arrives."""
from __future__ import annotations

import logging
import smtplib
import threading
import time
from email.message import EmailMessage
from email.utils import format_datetime, localtime, make_msgid

from gemini_enterprise.simulator.login_state import LoginBook, SentMail

logger = logging.getLogger(__name__)

CODE_SENDER = "noreply-googlecloud@google.com"
WELCOME_SENDER = "googlecloud@google.com"
LMTP_TIMEOUT = 10.0
SUBJECTS = {"en": "Your Gemini Business verification code", "zh": "Gemini Business 验证码"}
# A six-digit reference in the footer, as real notification mails carry: a code reader must not take it.
FOOTER = ("Google LLC, 1600 Amphitheatre Parkway, Mountain View, CA 94043, USA\n"
          "You received this mandatory service email about your Gemini Business account. Ref 204817")
CODE_TEXT = {
    "en": ("Sign in to Gemini Business\n\nUse this verification code to finish signing in as {to}:\n\n"
           "    {code}\n\nThis code expires in 10 minutes. If you didn't request it, you can ignore this email.\n\n"
           + FOOTER),
    "zh": ("登录 Gemini Business\n\n您的一次性验证码是：\n\n    {code}\n\n此验证码将在 10 分钟后失效。\n\n" + FOOTER),
}
CODE_HTML = ("<html><body><h1>Gemini Business</h1><p>{intro}</p>"
             '<p style="font-size:28px;letter-spacing:6px"><b class="verification-code">{code}</b></p>'
             "<p>{footer}</p></body></html>")
WELCOME_TEXT = ("Welcome to Gemini Business!\n\nYour 30-day trial has started. Open business.gemini.google to "
                "create your first agent.\n\n" + FOOTER)


def code_message(to: str, code: str, lang: str) -> EmailMessage:
    """The verification mail: text and HTML alternatives, the code in both."""
    lang = lang if lang in SUBJECTS else "en"
    intro = "Use this verification code to finish signing in:" if lang == "en" else "您的一次性验证码是："
    msg = _message(CODE_SENDER, to, SUBJECTS[lang])
    msg.set_content(CODE_TEXT[lang].format(to=to, code=code))
    msg.add_alternative(CODE_HTML.format(intro=intro, code=code, footer=FOOTER.replace("\n", "<br>")),
                        subtype="html")
    return msg


def welcome_message(to: str) -> EmailMessage:
    """The decoy: Google's welcome mail from another sender, with no code in it."""
    msg = _message(WELCOME_SENDER, to, "Welcome to Gemini Business")
    msg.set_content(WELCOME_TEXT)
    return msg


def _message(sender: str, to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Google Cloud <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = make_msgid(domain="google.com")
    return msg


class Mailer:
    """Sends mails to the LMTP server named in the login settings; records every one in the book."""

    def __init__(self, book: LoginBook, stopping: threading.Event) -> None:
        self.book = book
        self.stopping = stopping

    def send(self, msg: EmailMessage, *, code: str | None, delay: float = 0.0, lose: bool = False,
             junk: bool = False) -> SentMail:
        """Deliver now, or after `delay` seconds on a background thread; `lose` records it and drops it;
        `junk` files it in the mailbox's Junk folder (LMTP to `user+Junk@domain`)."""
        to = str(msg["To"])
        mailbox = self.mailbox_for(to)
        if junk:
            local, _, domain = mailbox.partition("@")
            mailbox = f"{local}+Junk@{domain}"
        record = SentMail(to=to, mailbox=mailbox, sender=msg["From"].addresses[0].addr_spec,
                          subject=str(msg["Subject"]), code=code, sent_at=time.time())
        self.book.record(record)
        if lose:
            record.error = "lost (fault lost_mail)"
        elif delay > 0:
            threading.Thread(target=self._deliver_later, args=(msg, record, delay), daemon=True,
                             name="sim-slow-mail").start()
        else:
            self._deliver(msg, record)
        return record

    def mailbox_for(self, address: str) -> str:
        """The mailbox user a recipient's mail lands in (routes model a catch-all mailbox)."""
        routes = self.book.settings.mail_routes
        domain = address.rpartition("@")[2]
        return routes.get(address) or routes.get(f"*@{domain}") or routes.get("*") or address

    def _deliver_later(self, msg: EmailMessage, record: SentMail, delay: float) -> None:
        if not self.stopping.wait(delay):
            self._deliver(msg, record)  # Date stays the sending time, as for a real mail held up on the way

    def _deliver(self, msg: EmailMessage, record: SentMail) -> None:
        target = self.book.settings.lmtp
        if target is None:
            record.error = "no LMTP server configured"
            return
        try:
            with _lmtp(target) as lmtp:
                lmtp.send_message(msg, from_addr=record.sender, to_addrs=[record.mailbox])
            record.delivered = True
        except (OSError, smtplib.SMTPException) as exc:
            record.error = f"{type(exc).__name__}: {exc}"
            logger.warning("mail delivery failed", extra={"mailbox": record.mailbox, "error": record.error})


def _lmtp(target: str) -> smtplib.LMTP:
    """An LMTP connection to a unix socket path or a host:port."""
    if target.startswith("/"):
        return smtplib.LMTP(target, timeout=LMTP_TIMEOUT)
    host, _, port = target.rpartition(":")
    return smtplib.LMTP(host or "127.0.0.1", int(port), timeout=LMTP_TIMEOUT)
