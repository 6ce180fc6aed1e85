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


# `429_quota=<kind>`: a daily quota used up, in Google's usual quota form (ErrorInfo metadata naming the metric).
QUOTA_METRICS = {"text": ("daily_assist_queries", "Daily assistant queries"),
                 "image": ("daily_image_generations", "Daily image generations"),
                 "video": ("daily_video_generations", "Daily video generations")}


def quota_exhausted(kind: str) -> dict[str, Any]:
    """The 429 body of a used-up daily quota of `kind` (text, image, video)."""
    metric, title = QUOTA_METRICS.get(kind, QUOTA_METRICS["text"])
    return google_error(429, f"Quota exceeded for quota metric '{title}' and limit '{title} per user per day' of "
                             "service 'discoveryengine.googleapis.com'.", details=[{
                                 "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                                 "domain": "googleapis.com",
                                 "metadata": {"quota_metric": f"discoveryengine.googleapis.com/{metric}",
                                              "quota_limit": f"{title.replace(' ', '')}PerUserPerDay",
                                              "service": "discoveryengine.googleapis.com"}}])


def fault_error(rule_fault: str, arg: str | None = None) -> HttpFault | None:
    """The HTTP error a generic fault stands for (None when the fault is not an HTTP error)."""
    if rule_fault in ("429", "429_before"):
        return HttpFault(429, "", body=RESOURCE_EXHAUSTED)
    if rule_fault == "429_quota":
        return HttpFault(429, "", body=quota_exhausted(arg or "text"))
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
