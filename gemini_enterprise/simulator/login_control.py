"""Control API of the login pages: `GET|POST /_sim/login` (settings) and `GET /_sim/login/mail` (mails sent)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gemini_enterprise.simulator.httperrors import HttpFault
from gemini_enterprise.simulator.login_state import VARIANT_NAMES, LoginSettings
from gemini_enterprise.simulator.state import SimState

if TYPE_CHECKING:
    from gemini_enterprise.simulator.handler import SimHandler

SETTING_KEYS = ("lifetime", "cookie_lifetime", "variant", "lmtp", "mail_routes", "max_wrong_codes",
                "slow_mail_seconds")


def control(handler: SimHandler, verb: str, path: str, body: dict[str, Any]) -> None:
    """Route a /_sim/login* control call."""
    sim = handler.server.sim
    if path == "/_sim/login" and verb == "POST":
        try:
            configure(sim, **{k: body[k] for k in SETTING_KEYS if k in body})
        except (TypeError, ValueError) as exc:
            raise HttpFault(400, str(exc)) from None
        handler.send_json(200, settings_json(sim))
    elif path == "/_sim/login" and verb == "GET":
        handler.send_json(200, settings_json(sim))
    elif path == "/_sim/login/mail" and verb == "GET":
        handler.send_json(200, {"mails": sim.logins.mails_json(handler.query.get("to"))})
    else:
        raise HttpFault(404, f"No control route {verb} {path}")


def settings_json(sim: SimState) -> dict[str, Any]:
    """The login settings, with the login lifetime."""
    return {"lifetime": sim.login_lifetime, **sim.logins.settings.as_json()}


_UNSET: Any = object()


def configure(sim: SimState, *, lifetime: Any = _UNSET, cookie_lifetime: Any = _UNSET, variant: Any = _UNSET,
              lmtp: Any = _UNSET, mail_routes: Any = _UNSET, max_wrong_codes: Any = _UNSET,
              slow_mail_seconds: Any = _UNSET) -> None:
    """Change login settings (only those given); raises ValueError/TypeError on a bad value, changing nothing."""
    current = sim.logins.settings
    new = LoginSettings(
        variant=current.variant if variant is _UNSET else _variant(variant),
        cookie_lifetime=current.cookie_lifetime if cookie_lifetime is _UNSET else _seconds_or_none(cookie_lifetime),
        lmtp=current.lmtp if lmtp is _UNSET else (str(lmtp) if lmtp else None),
        mail_routes=current.mail_routes if mail_routes is _UNSET else {str(k): str(v) for k, v in mail_routes.items()},
        max_wrong_codes=current.max_wrong_codes if max_wrong_codes is _UNSET else max(1, int(max_wrong_codes)),
        slow_mail_seconds=(current.slow_mail_seconds if slow_mail_seconds is _UNSET
                           else float(slow_mail_seconds)))
    new_lifetime = _seconds_or_none(lifetime) if lifetime is not _UNSET else _UNSET
    sim.logins.settings = new
    if new_lifetime is not _UNSET:
        sim.set_login_lifetime(new_lifetime)


def _variant(value: Any) -> str:
    if value not in VARIANT_NAMES:
        raise ValueError(f"variant must be one of {', '.join(VARIANT_NAMES)}")
    return str(value)


def _seconds_or_none(value: Any) -> float | None:
    if value is None:
        return None
    seconds = float(value)
    if seconds <= 0:
        raise ValueError("a lifetime must be positive seconds or null")
    return seconds
