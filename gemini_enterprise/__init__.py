"""Framework-free client for the Gemini Enterprise web ("widget") protocol, plus its simulator."""
from __future__ import annotations

from gemini_enterprise.errors import (
    AuthExpired,
    InvalidRequest,
    LoginRequired,
    NotFound,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    Unavailable,
    UpstreamError,
)
from gemini_enterprise.types import (
    ClientConfig,
    ContextFile,
    Credentials,
    FileMetadata,
    FinalState,
    GeneratedFile,
    SessionInfo,
    StreamError,
    StreamEvent,
    StreamIdle,
    TextDelta,
    ThoughtDelta,
    ToolsSpec,
)

__all__ = [
    "AuthExpired", "ClientConfig", "ContextFile", "Credentials", "FileMetadata", "FinalState",
    "GeneratedFile", "InvalidRequest", "LoginRequired", "NotFound", "PermissionDenied",
    "PolicyBlocked", "RateLimited", "SessionInfo", "StreamError", "StreamEvent", "StreamIdle", "TextDelta",
    "ThoughtDelta", "ToolsSpec", "Unavailable", "UpstreamError",
]
