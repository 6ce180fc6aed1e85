"""Google-style HTTP errors the simulator answers with."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from gemini_enterprise.simulator.scenario import RESOURCE_EXHAUSTED

GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class HttpFault(Exception):
    """Answer the request with this Google-style error."""

    def __init__(self, code: int, message: str, *, body: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = body or google_error(code, message)


def google_error(code: int, message: str, *, details: list[dict] | None = None) -> dict[str, Any]:
    """The standard Google error envelope."""
    err: dict[str, Any] = {"code": code, "message": message, "status": GOOGLE_STATUS.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return {"error": err}


def fault_error(rule_fault: str) -> HttpFault | None:
    """The HTTP error a generic fault stands for (None when the fault is not an HTTP error)."""
    if rule_fault in ("429", "429_before"):
        return HttpFault(429, "", body=RESOURCE_EXHAUSTED)
    if rule_fault == "401":
        return HttpFault(401, "Request had invalid authentication credentials.")
    if rule_fault == "403":
        return HttpFault(403, "The caller does not have permission (simulated).")
    if rule_fault == "404_session":
        return HttpFault(404, "Session not found (simulated).")
    if rule_fault in ("400", "500", "503"):
        return HttpFault(int(rule_fault), f"Simulated {rule_fault}.")
    return None


def decode_b64(text: Any) -> bytes:
    """Standard base64 (padding optional) or raise HttpFault 400."""
    if not isinstance(text, str):
        raise HttpFault(400, "fileContents must be a base64 string.")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise HttpFault(400, "fileContents is not valid base64.") from None
