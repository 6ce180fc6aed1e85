"""The simulator's code mails arrive in a real Dovecot (LMTP in, IMAP over TLS out)."""
from __future__ import annotations

import imaplib
import re
import ssl
import time

import pytest

from tests.gemini_enterprise.login_walk import LoginWalk

CODE_LINE = re.compile(r"^\s*([A-Z0-9]{6})\s*$", re.MULTILINE)


@pytest.fixture
def mailing_sim(login_sim, mailserver):
    """The login simulator delivering to this test process's Dovecot."""
    login_sim.configure_login(lmtp=mailserver.lmtp)
    return login_sim


def code_in(message) -> str:
    match = CODE_LINE.search(message.get_body(("plain",)).get_content())
    assert match, "no code line in the mail"
    return match.group(1)


def test_the_code_arrives_over_lmtp_and_logs_in_when_read_over_imaps(mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    w = LoginWalk(mailing_sim, seat.email)
    w.submit_email()
    w.send_code()

    [message] = mailbox.wait_for_messages(1)

    assert message["From"].addresses[0].addr_spec == "noreply-googlecloud@google.com"
    assert message["Subject"] == "Your Gemini Business verification code" and message["To"] == seat.email
    assert message.get_body(("html",)) is not None
    code = code_in(message)
    assert code == mailing_sim.mails(seat.email)[0]["code"]
    assert "204817" in message.get_body(("plain",)).get_content()  # the footer's numeric reference
    assert w.verify(code).status_code == 302


def test_imap_needs_the_right_password_and_verifies_the_certificate(mailbox) -> None:
    with mailbox.imap() as imap:
        assert imap.select("INBOX")[0] == "OK"
    with imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=mailbox.ssl_context(), timeout=10) as imap:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(mailbox.address, "not-the-password")
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=ssl.create_default_context(), timeout=10)


def test_a_slow_mail_arrives_after_its_delay(mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    mailing_sim.add_fault("slow_mail=1.5", csesidx=seat.csesidx, count=1)
    w = LoginWalk(mailing_sim, seat.email)
    w.submit_email()
    sent = time.time()
    w.send_code()
    assert mailbox.messages() == []
    [message] = mailbox.wait_for_messages(1, timeout=10)
    assert time.time() - sent >= 1.4
    assert w.verify(code_in(message)).status_code == 302


def test_a_wrong_first_code_then_a_resend_both_arrive_newest_last(mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    mailing_sim.add_fault("wrong_first_code", csesidx=seat.csesidx, count=1)
    w = LoginWalk(mailing_sim, seat.email)
    w.submit_email()
    w.send_code()
    first = code_in(mailbox.wait_for_messages(1)[0])
    assert "Wrong code" in w.verify(first).text
    w.send_code()
    second = code_in(mailbox.wait_for_messages(2)[-1])
    assert second != first and w.verify(second).status_code == 302


def test_the_decoy_welcome_mail_comes_from_another_sender(mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    mailing_sim.add_fault("decoy_mail", csesidx=seat.csesidx, count=1)
    w = LoginWalk(mailing_sim, seat.email)
    w.submit_email()
    w.send_code()
    code_mail, welcome = mailbox.wait_for_messages(2)
    assert welcome["From"].addresses[0].addr_spec == "googlecloud@google.com"
    assert not CODE_LINE.search(welcome.get_body(("plain",)).get_content())
    assert w.verify(code_in(code_mail)).status_code == 302


def test_junk_mail_lands_in_the_junk_folder(mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    mailing_sim.add_fault("junk_mail", csesidx=seat.csesidx, count=1)
    w = LoginWalk(mailing_sim, seat.email)
    w.submit_email()
    w.send_code()
    [message] = mailbox.wait_for_messages(1, folder="Junk")
    assert mailbox.messages("INBOX") == []
    assert w.verify(code_in(message)).status_code == 302


def test_a_catch_all_route_collects_many_seats_in_one_mailbox(mailing_sim, make_seat, mailbox) -> None:
    mailing_sim.configure_login(mail_routes={"*@seats.example": mailbox.address})
    seats = [make_seat(email=f"seat-{n}@seats.example", login_variant="c") for n in range(3)]
    for seat in seats:
        LoginWalk(mailing_sim, seat.email).submit_email()
    messages = mailbox.wait_for_messages(3)
    assert sorted(m["To"] for m in messages) == sorted(s.email for s in seats)


def test_an_unreachable_lmtp_server_is_recorded_not_raised(login_sim, make_seat, tmp_path) -> None:
    login_sim.configure_login(lmtp=str(tmp_path / "no-such-socket"))
    seat = make_seat(login_variant="c")
    page = LoginWalk(login_sim, seat.email).submit_email()
    assert page.status_code == 200
    [mail] = login_sim.mails(seat.email)
    assert not mail["delivered"] and "Error" in mail["error"]


def test_the_mailserver_serves_two_mailboxes_apart(mailserver, make_mailbox) -> None:
    from email.message import EmailMessage

    one, two = make_mailbox(), make_mailbox(address="named@mail.test", password="pw-named-1")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@mail.test", one.address, "only for one"
    msg.set_content("hello")
    mailserver.deliver(msg, one.address)
    assert [m["Subject"] for m in one.wait_for_messages(1)] == ["only for one"]
    assert two.messages() == [] and two.address == "named@mail.test"


def test_an_old_mail_can_be_planted_with_its_arrival_time(mailserver, mailbox) -> None:
    import datetime

    from gemini_enterprise.simulator.mailer import code_message

    yesterday = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    mailserver.plant(mailbox, code_message(mailbox.address, "OLD0C0", "en"), received=yesterday)
    with mailbox.imap() as imap:
        imap.select("INBOX", readonly=True)
        _, found = imap.search(None, "SINCE", (yesterday + datetime.timedelta(days=1)).strftime("%d-%b-%Y"))
        _, everything = imap.search(None, "ALL")
    assert found[0] == b"" and everything[0] == b"1"
    assert code_in(mailbox.messages()[0]) == "OLD0C0"


def test_a_dovecot_that_cannot_start_says_why_and_leaves_nothing(mailserver, monkeypatch) -> None:
    from tests import mailserver as module

    monkeypatch.setattr(module, "CONFIG", module.CONFIG + "no_such_setting = 1\n")
    server = module.MailServer()
    with pytest.raises(module.MailServerError, match="Unknown setting: no_such_setting"):
        server.start()
    assert not server.root.exists()
