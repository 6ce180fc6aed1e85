"""JWT verification as the upstream must do it: HMAC over the bytes as sent, claims in any key order."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

ISSUER = "https://business.gemini.google"
AUDIENCE = "https://biz-discoveryengine.googleapis.com"


class JwtRejected(Exception):
    """The token is not acceptable; the message says why (never the token)."""


def verify_jwt(token: str, keys: Mapping[str, tuple[bytes, str]], now: float, *, skew: float = 30.0) -> str:
    """Check signature and claims; return the csesidx the token was minted for."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtRejected("not a three-part JWT")
    header = _json_part(parts[0], "header")
    payload = _json_part(parts[1], "payload")
    if header.get("alg") != "HS256":
        raise JwtRejected("alg must be HS256")
    entry = keys.get(str(header.get("kid")))
    if entry is None:
        raise JwtRejected("unknown kid")
    key, csesidx = entry
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        signature = _b64url(parts[2])
    except (binascii.Error, ValueError):
        raise JwtRejected("signature is not base64url") from None
    if not hmac.compare_digest(expected, signature):
        raise JwtRejected("bad signature")
    _check_claims(payload, csesidx, now, skew)
    return csesidx


def _check_claims(payload: dict[str, Any], csesidx: str, now: float, skew: float) -> None:
    if payload.get("iss") != ISSUER:
        raise JwtRejected("wrong iss")
    if payload.get("aud") != AUDIENCE:
        raise JwtRejected("wrong aud")
    if payload.get("sub") != f"csesidx/{csesidx}":
        raise JwtRejected("sub does not match the key's csesidx")
    try:
        nbf, exp = float(payload["nbf"]), float(payload["exp"])
    except (KeyError, TypeError, ValueError):
        raise JwtRejected("nbf/exp missing") from None
    if nbf > now + skew:
        raise JwtRejected("not yet valid")
    if now >= exp + skew:
        raise JwtRejected("expired")


def _json_part(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = _b64url(segment)
    except (binascii.Error, ValueError):
        raise JwtRejected(f"{what} is not base64url") from None
    # kQ bytes are Latin-1 for code points <= 255; for ASCII (all real claims) both readings agree.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        value = json.loads(text)
    except ValueError:
        raise JwtRejected(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise JwtRejected(f"{what} is not an object")
    return value


def _b64url(segment: str) -> bytes:
    if not segment or any(c in segment for c in "+/="):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
