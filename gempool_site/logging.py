"""Log formatting with structured context, and a last-line filter that scrubs anything secret-shaped."""
from __future__ import annotations

import logging
import re

# Belt and braces: code never logs secrets on purpose; this catches accidents (a URL with a
# password, a header dump, a JWT in an exception text).
_PATTERNS = [
    (re.compile(r"(__(?:Secure|Host)-C_O?SES=)[^;\s'\"]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), "[redacted-jwt]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:secure_c_ses|host_c_oses|xsrf_?token|password|api_key)[\"']?\s*[:=]\s*[\"']?)"
                r"[^\s,;'\"}&]+"), r"\1[redacted]"),
    (re.compile(r"(://[^/\s:@]+:)[^@/\s]+@"), r"\1[redacted]@"),
    (re.compile(r"\bgp-[A-Za-z0-9_-]{20,}"), "gp-[redacted]"),
]


def redact(text: str) -> str:
    """Remove cookie values, JWTs, bearer tokens, URL passwords and API keys from a string."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's rendered message (and exception text) through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class ContextFormatter(logging.Formatter):
    """`time level logger message key=value ...`: extra= fields are appended so logs stay greppable."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        return redact(line)
