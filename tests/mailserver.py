"""A throwaway Dovecot for tests: IMAP over TLS on a free loopback port, LMTP on a unix socket, Maildir storage.

Debian's `dovecot-imapd` + `dovecot-lmtpd` (scripts/test installs them when run as root). Each test process
(xdist worker) starts its own server in its own temp dir, so workers never share a port or a mailbox.

    server = MailServer().start()
    box = server.add_mailbox()                 # Mailbox(address, password, host, port, cafile)
    sim.configure_login(lmtp=server.lmtp)      # the simulator mails its codes there
    with box.imap() as imap: ...               # imaplib.IMAP4_SSL, logged in, certificate verified
    server.stop()

The fixtures `mailserver` (one per test process) and `mailbox` (a fresh mailbox per test) are at the bottom;
tests/conftest.py makes them available to the whole suite.
"""
from __future__ import annotations

import ctypes
import datetime
import email
import email.policy
import grp
import imaplib
import ipaddress
import itertools
import os
import pwd
import secrets
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from pathlib import Path

import pytest

from tests.polling import wait_until

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LMTP_MODULE = Path("/usr/lib/dovecot/lmtp")
START_TIMEOUT = 15.0
START_ATTEMPTS = 3  # a free port found by bind(0) can be taken by another process before Dovecot binds it
HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = gempool-test-{instance}
log_path = {root}/dovecot.log
protocols = imap lmtp
listen = {host}
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
auth_mechanisms = plain login
# No slow-down after a failed login: tests try wrong passwords on purpose, and every client is 127.0.0.1.
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {mail_uid}
first_valid_gid = {mail_gid}
mail_location = maildir:~/Maildir
postmaster_address = postmaster@mail.test
# "box+Junk@mail.test" lands in box's Junk folder (the simulator's junk_mail fault)
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
lda_mailbox_autocreate = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users/%Lu
}}
userdb {{
  driver = passwd-file
  args = {root}/users/%Lu
  default_fields = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
# No chroot: an unprivileged test user cannot chroot (and a throwaway test server gains nothing from it).
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = {host}
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
"""


class MailServerError(RuntimeError):
    """Dovecot would not start (the message ends with its log)."""


@dataclass(frozen=True)
class Mailbox:
    """One test mailbox: how an IMAP client reaches it."""

    address: str
    password: str
    host: str
    port: int
    cafile: str  # the server's self-signed certificate: trust it to verify the TLS connection

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context that trusts only this server's certificate."""
        return ssl.create_default_context(cafile=self.cafile)

    def imap(self) -> imaplib.IMAP4_SSL:
        """A logged-in IMAP-over-TLS connection (use it as a context manager)."""
        imap = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self.ssl_context(), timeout=10)
        imap.login(self.address, self.password)
        return imap

    def messages(self, folder: str = "INBOX") -> list[Message]:
        """Every message in a folder, oldest first."""
        with self.imap() as imap:
            imap.select(folder, readonly=True)
            _, data = imap.search(None, "ALL")
            out = []
            for num in data[0].split():
                _, parts = imap.fetch(num, "(RFC822)")
                out.append(email.message_from_bytes(parts[0][1], policy=email.policy.default))
            return out

    def wait_for_messages(self, count: int, *, timeout: float = 10.0, folder: str = "INBOX") -> list[Message]:
        """The folder's messages once there are at least `count` (AssertionError after `timeout`)."""
        found: list[Message] = []

        def arrived() -> bool:
            found[:] = self.messages(folder)
            return len(found) >= count

        assert wait_until(arrived, timeout, interval=0.1) is not None, \
            f"{self.address}: {len(found)} of {count} messages after {timeout}s"
        return found


class MailServer:
    """A Dovecot master process with a config, certificate, passwd-file and Maildirs in a temp dir."""

    _instances = itertools.count(1)

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gempool-dovecot-"))
        self.host = HOST
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._stderr = ""
        self._users = _process_users()

    @property
    def lmtp(self) -> str:
        """The LMTP unix socket (for `smtplib.LMTP(path)` and the simulator's `lmtp` setting)."""
        return str(self.root / "run" / "lmtp")

    @property
    def cafile(self) -> str:
        """The self-signed certificate IMAP clients must trust."""
        return str(self.root / "cert.pem")

    def start(self) -> MailServer:
        """Write the config and start Dovecot; raises MailServerError if it will not come up."""
        if not Path(DOVECOT).exists() or not LMTP_MODULE.exists():
            self.stop()
            raise MailServerError("dovecot-imapd and dovecot-lmtpd are not installed")
        self._prepare()
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = _free_port()
            self._write_config()
            self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            preexec_fn=_die_with_parent)
            wait_until(self._ready_or_gone, START_TIMEOUT, interval=0.05)
            if self.process.poll() is None and self._greets():
                return self
            self._terminate()
            if attempt == START_ATTEMPTS or "in use" not in self.log():
                log = (self._stderr + self.log())[-2000:]
                self.stop()
                raise MailServerError(f"dovecot did not start: {log}")
        return self

    def stop(self) -> None:
        """Stop Dovecot and delete its directory (mailboxes included)."""
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_mailbox(self, address: str | None = None, password: str | None = None) -> Mailbox:
        """A new mailbox (a unique address on mail.test unless given); usable at once."""
        address = address or f"box-{secrets.token_hex(4)}@mail.test"
        password = password or secrets.token_urlsafe(12)
        # One passwd-file per user: Dovecot re-reads a changed file at most once a second, a new file at once.
        passwd = self.root / "users" / address.lower()
        if passwd.exists():
            raise ValueError(f"mailbox {address} exists")
        staged = passwd.with_name(passwd.name + ".new")
        staged.write_text(f"{address}:{{PLAIN}}{password}::::::\n")
        staged.chmod(0o644)
        staged.replace(passwd)
        return Mailbox(address=address, password=password, host=self.host, port=self.port, cafile=self.cafile)

    def deliver(self, msg: EmailMessage, to: str) -> None:
        """Deliver a message over LMTP (tests planting mail of their own)."""
        with smtplib.LMTP(self.lmtp, timeout=10) as lmtp:
            lmtp.send_message(msg, to_addrs=[to])

    def plant(self, mailbox: Mailbox, msg: EmailMessage, *, received: datetime.datetime,
              folder: str = "INBOX") -> None:
        """Put a message in a mailbox as if it had arrived at `received` (IMAP APPEND with that
        INTERNALDATE): an old code mail a reader must ignore."""
        with mailbox.imap() as imap:
            status, _ = imap.append(folder, None, imaplib.Time2Internaldate(received.timestamp()), msg.as_bytes())
            assert status == "OK", f"APPEND to {folder} failed"

    def log(self) -> str:
        """Dovecot's log so far."""
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # ---- internals ------------------------------------------------------------------------------

    def _prepare(self) -> None:
        _write_certificate(self.root)
        (self.root / "users").mkdir()
        (self.root / "mail").mkdir()
        # Dovecot's own processes (and, as root, the mail user) must reach these files.
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            os.chown(self.root / "mail", self._users["mail_uid"], self._users["mail_gid"])

    def _write_config(self) -> None:
        text = CONFIG.format(root=self.root, host=self.host, port=self.port,
                             instance=f"{os.getpid()}-{next(self._instances)}", **self._users)
        (self.root / "dovecot.conf").write_text(text)

    def _ready_or_gone(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return True  # exited: stop waiting (start() sees the failure)
        return Path(self.lmtp).exists() and self._greets()

    def _greets(self) -> bool:
        """True when *our* Dovecot answers IMAPS (a listener that merely accepts could be someone else's)."""
        context = ssl.create_default_context(cafile=self.cafile)
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as raw, \
                    context.wrap_socket(raw, server_hostname=self.host) as tls:
                return tls.recv(64).startswith(b"* OK")
        except (OSError, ssl.SSLError):
            return False

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stderr is not None:
            self._stderr = process.stderr.read().decode(errors="replace")  # doveconf's errors land here
            process.stderr.close()


def _process_users() -> dict[str, object]:
    """Who Dovecot's processes run as: the current user, or (as root) Debian's dovecot users.

    Dovecot refuses to keep mail as uid 0, so a root test run stores it as the `dovecot` user.
    """
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        return {"internal_user": me.pw_name, "internal_group": group, "login_user": me.pw_name,
                "mail_uid": me.pw_uid, "mail_gid": me.pw_gid}
    mail = pwd.getpwnam("dovecot")
    return {"internal_user": "dovecot", "internal_group": grp.getgrgid(mail.pw_gid).gr_name,
            "login_user": "dovenull", "mail_uid": mail.pw_uid, "mail_gid": mail.pw_gid}


def _die_with_parent() -> None:
    """In the child before exec: a killed test process must not leave its Dovecot running (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the fixture's teardown still stops it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _write_certificate(root: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost (key readable by Dovecot's master only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gempool test mail server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST)),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = root / "key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)


# ---- fixtures (re-exported by tests/conftest.py) -------------------------------------------------


@pytest.fixture(scope="session")
def mailserver() -> Iterator[MailServer]:
    """One Dovecot per test process; skips the test when Dovecot is not installed."""
    if not Path(DOVECOT).exists() or not LMTP_MODULE.exists():
        pytest.skip("Debian's dovecot-imapd and dovecot-lmtpd are not installed; scripts/test installs them")
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(mailserver: MailServer) -> Mailbox:
    """A fresh, empty mailbox on the test process's Dovecot."""
    return mailserver.add_mailbox()


@pytest.fixture
def make_mailbox(mailserver: MailServer) -> Callable[..., Mailbox]:
    """Factory: `make_mailbox(address=None, password=None)` -> a new Mailbox."""
    return mailserver.add_mailbox
