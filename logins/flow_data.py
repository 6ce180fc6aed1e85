"""The login flow's data: URLs, selectors and texts, from logins/flow.json and an optional override file.

The override (GEMPOOL_LOGIN_FLOW_FILE) is merged over the built-in file key by key, so it may hold only
what changed; a list in it replaces the built-in list. A bad file is refused with a message naming the key.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logins.mailbox import CodeRules

BUILT_IN = Path(__file__).with_name("flow.json")
SELECTOR_KEYS = ("email_input", "continue_button", "send_code_button", "code_input", "verify_button",
                 "resend_button", "onboarding_name", "onboarding_agree", "captcha", "access_restricted", "alert")
TEXT_KEYS = ("code_page", "wrong_code", "too_many_attempts", "sign_in_error")
URL_KEYS = ("xsrf_page", "continue", "email_direct", "email_form", "business_home")


class FlowDataInvalid(Exception):
    """The flow file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class FlowData:
    raw: dict

    def selectors(self, name: str) -> list[str]:
        return list(self.raw["selectors"][name])

    def texts(self, name: str) -> list[str]:
        return list(self.raw["texts"][name])

    def url(self, name: str) -> str:
        return self.raw["urls"][name]

    def timeout(self, name: str) -> float:
        return float(self.raw["timeouts"][name])

    def markers(self, name: str) -> list[str]:
        return list(self.raw["url_markers"][name])

    @property
    def success_pattern(self) -> re.Pattern:
        return re.compile(self.raw["url_markers"]["success"])

    @property
    def mail(self) -> dict:
        return self.raw["mail"]

    def code_rules(self) -> CodeRules:
        mail = self.mail
        return CodeRules(senders=tuple(mail["senders"]), code_pattern=mail["code_pattern"],
                         markers=tuple(mail.get("markers", ())), require_letter=bool(mail.get("require_letter", True)))


def load_flow_data(override: str = "") -> FlowData:
    """The built-in flow data with `override` (a file path, may be blank) merged over it."""
    data = _read(BUILT_IN)
    if override:
        data = _merge(data, _read(Path(override)))
    _validate(data, override or str(BUILT_IN))
    return FlowData(data)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlowDataInvalid(f"cannot read the login flow file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise FlowDataInvalid(f"the login flow file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FlowDataInvalid(f"the login flow file {path} must hold a JSON object")
    return data


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _validate(data: dict, source: str) -> None:
    def need(path: str, kind: type | tuple[type, ...]) -> Any:
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise FlowDataInvalid(f"{source}: missing {path}")
            node = node[part]
        if not isinstance(node, kind) or (isinstance(node, list) and not all(isinstance(i, str) for i in node)):
            raise FlowDataInvalid(f"{source}: {path} has the wrong type")
        return node

    for key in SELECTOR_KEYS:
        need(f"selectors.{key}", list)
    for key in TEXT_KEYS:
        need(f"texts.{key}", list)
    for key in URL_KEYS:
        need(f"urls.{key}", str)
    need("urls.trial_pages", list)
    for key in ("page_seconds", "element_seconds", "hard_stop_watch_seconds", "cookie_poll_seconds",
                "after_login_seconds"):
        need(f"timeouts.{key}", (int, float))
    for key in ("sign_in_error", "verify", "onboarding"):
        need(f"url_markers.{key}", list)
    for key in ("session", "oses"):
        need(f"cookies.{key}", str)
    need("mail.senders", list)
    _need_numbers(data, source)
    for path in ("url_markers.success", "mail.code_pattern"):
        try:
            re.compile(need(path, str))
        except re.error as exc:
            raise FlowDataInvalid(f"{source}: {path} is not a valid regular expression: {exc}") from None
    for pattern in [*need("xsrf.script_patterns", list), *need("trial.patterns", list)]:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise FlowDataInvalid(f"{source}: bad regular expression {pattern!r}: {exc}") from None
    need("xsrf.meta", list)
    need("xsrf.input", list)


def _need_numbers(data: dict, source: str) -> None:
    mail = data.get("mail", {})
    windows = mail.get("wait_windows_seconds")
    if not isinstance(windows, list) or not windows or not all(isinstance(w, int | float) and w > 0 for w in windows):
        raise FlowDataInvalid(f"{source}: mail.wait_windows_seconds must be a list of positive numbers")
    for key in ("skew_seconds", "poll_seconds", "max_wrong_codes"):
        if not isinstance(mail.get(key), int | float) or mail[key] < 0:
            raise FlowDataInvalid(f"{source}: mail.{key} must be a number >= 0")
