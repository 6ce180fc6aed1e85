"""GeminiClient: the widget API calls (sessions, streamed answers, files) over pooled HTTP connections."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import http.cookiejar
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Self

import requests

from gemini_enterprise.assist import AssistStream
from gemini_enterprise.auth import MemoryTokenStore, TokenManager, TokenStore, XsrfGrant, getoxsrf
from gemini_enterprise.errors import (
    AuthExpired,
    InvalidRequest,
    NotFound,
    Unavailable,
    error_from_response,
)
from gemini_enterprise.http11 import Http11Client, Http11Response, header_block
from gemini_enterprise.transport import QuickAckAdapter
from gemini_enterprise.types import UPSTREAM_CLIENTS, ClientConfig, ContextFile, Credentials, FileMetadata, ToolsSpec

logger = logging.getLogger(__name__)

API_PATH = "/v1alpha/locations/global/"
SERVER_TIMEOUT_HEADER = "1800"  # x-server-timeout every client sends (seconds)
ERROR_BODY_LIMIT = 64 * 1024  # how much of an error body we read to classify it
DEFAULT_MAX_DOWNLOAD = 200 * 1024 * 1024
DEFAULT_TOOLS = ToolsSpec()
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization",
                               "x-original-authorization"})
# Magic numbers of media we may receive base64-encoded as text: downloadFile has been seen answering with
# base64 text instead of the raw bytes, so other clients of the protocol check for it and decode it too.
_MEDIA_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"\x1aE\xdf\xa3")
_BASE64_HEAD = re.compile(rb"[A-Za-z0-9+/=]+")
_BASE64_HEAD_MP4 = re.compile(rb"AAAA[A-Za-z0-9+/]{2}Z0eX")  # base64 of 00 00 00 xx "ftyp"
# time.monotonic() by which every upstream call made in this context must be over (None: no deadline).
_deadline: ContextVar[float | None] = ContextVar("gemini_call_deadline", default=None)


class DeadlineReached(Unavailable):
    """The caller's deadline passed before a call could start: no account is to blame (and the caller,
    who owns the deadline, will not start another attempt)."""

    account_fault = False

    @property
    def kind(self) -> str:
        return "deadline"


@contextmanager
def call_deadline(at: float | None) -> Iterator[None]:
    """Bound every upstream call made inside (in this thread) by `at`, a time.monotonic() value.

    requests only knows per-socket-operation timeouts, so a caller with a total budget (the gateway's
    failover deadline) would otherwise wait up to the full read timeout on a slow upstream after its own
    client had been told it was too late. Connect and read timeouts shrink to the time left; an open
    stream gets the configured read timeout back once its headers have arrived.
    """
    token = _deadline.set(at)
    try:
        yield
    finally:
        _deadline.reset(token)


_CONTENTS_SLOT = "\x00file contents\x00"
_CONTENTS_SLOT_JSON = json.dumps(_CONTENTS_SLOT)[1:-1].encode()  # inside the quotes
BASE64_PIECE = 3 * 256 * 1024  # bytes of the file encoded per piece (a multiple of 3: no padding midway)


class Base64JsonBody:
    """A JSON request body whose largest string, `data` in base64, is encoded piece by piece while it is sent.

    Both clients send an iterable with a length as it is (Content-Length, no chunked encoding). An upload then
    never holds the base64 text, let alone its JSON copies, in memory: each is about 4/3 of the file.
    Iterating again starts over, so a retried call sends the same bytes.
    """

    def __init__(self, head: bytes, data: bytes, tail: bytes) -> None:
        self.head, self.data, self.tail = head, data, tail

    def __len__(self) -> int:
        return len(self.head) + 4 * ((len(self.data) + 2) // 3) + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        view = memoryview(self.data)
        for start in range(0, len(view), BASE64_PIECE):
            yield base64.b64encode(view[start:start + BASE64_PIECE])
        yield self.tail


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy of headers safe to log: credentials replaced by a marker."""
    return {k: ("[redacted]" if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


UpstreamResponse = requests.Response | Http11Response


class GeminiClient:
    """Talks to the upstream for any number of accounts: direct calls over the lean HTTP/1.1 client
    (gemini_enterprise/http11.py) unless `config.upstream_client` is "requests"; one pooled requests.Session
    per proxy otherwise."""

    def __init__(self, config: ClientConfig, *, token_store: TokenStore | None = None) -> None:
        if config.upstream_client not in UPSTREAM_CLIENTS:
            raise ValueError(f"upstream_client must be one of {', '.join(UPSTREAM_CLIENTS)}")
        self.config = config
        self._sessions: dict[str | None, requests.Session] = {}
        self._lock = threading.Lock()  # guards _sessions only
        self._lean = (Http11Client(verify_tls=config.verify_tls, pool_maxsize=config.pool_maxsize)
                      if config.upstream_client == "lean" else None)
        self._tokens = TokenManager(token_store or MemoryTokenStore(), self._getoxsrf, config)

    # ---- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()
        if self._lean is not None:
            self._lean.close()

    # ---- auth ----------------------------------------------------------------------------------

    def fetch_jwt(self, creds: Credentials, *, force: bool = False) -> str:
        """A valid JWT for the account (cached; `force` demands one minted after this call)."""
        return self._tokens.get(creds, force=force)

    def check_login(self, creds: Credentials) -> None:
        """Probe the cookies with a fresh getoxsrf (cache bypassed, new JWT stored); raise on failure."""
        self._tokens.refresh_now(creds)

    # ---- API calls -----------------------------------------------------------------------------

    def create_session(self, creds: Credentials) -> str:
        """Create an upstream session; returns its name (collections/.../sessions/<id>)."""
        data = self._call(creds, "widgetCreateSession", "createSessionRequest",
                          {"session": {"name": "", "displayName": ""}})
        name = (data.get("session") or {}).get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not name:
            raise Unavailable("widgetCreateSession answered without session.name", status=200)
        return name

    def stream_assist(self, creds: Credentials, *, session: str, query: str, file_ids: Iterable[str] = (),
                      model_id: str | None = None, tools: ToolsSpec = DEFAULT_TOOLS,
                      language_code: str | None = None, time_zone: str | None = None,
                      idle_after: float | None = None) -> AssistStream:
        """Start an answer; raises UpstreamError on a non-200 status, else returns the live event stream
        (which reports silences of `idle_after` seconds as StreamIdle events, if given)."""
        request: dict[str, Any] = {
            "session": session,
            "query": {"parts": [{"text": query or " "}]},  # an empty query yields an empty answer
            "filter": "",
            "fileIds": list(file_ids),
            "answerGenerationMode": "NORMAL",
            "toolsSpec": tools.to_wire(),
            "languageCode": language_code or self.config.language_code,
            "userMetadata": {"timeZone": time_zone or self.config.time_zone},
            "assistSkippingMode": "REQUEST_ASSIST",
        }
        if model_id:
            request["assistGenerationConfig"] = {"modelId": model_id}
        body = self._envelope(creds, "streamAssistRequest", request)
        url = self._api_url("widgetStreamAssist")
        resp = self._with_jwt(creds, lambda jwt: self._send(creds, "widgetStreamAssist", "POST", url, jwt,
                                                             json_body=body, stream=True))
        # Silences mid-stream get the full read timeout again, not what was left of a deadline.
        return AssistStream(resp, read_timeout=self.config.read_timeout, idle_after=idle_after, account=creds.key,
                            on_auth_expired=lambda: self._tokens.invalidate(creds))

    def add_context_file(self, creds: Credentials, *, session: str, file_name: str, mime_type: str,
                         data: bytes) -> ContextFile:
        """Upload an input file into a session; its fileId is valid in that session only."""
        request = {"name": session, "fileName": file_name, "mimeType": mime_type, "fileContents": _CONTENTS_SLOT}
        head, _, tail = json.dumps(self._envelope(creds, "addContextFileRequest", request),
                                   ensure_ascii=False).encode("utf-8").partition(_CONTENTS_SLOT_JSON)
        url = self._api_url("widgetAddContextFile")
        body = Base64JsonBody(head, data, tail)
        resp = self._with_jwt(creds, lambda jwt: self._send(creds, "widgetAddContextFile", "POST", url, jwt,
                                                             raw_body=body))
        with resp:
            result = _json_body(resp, "widgetAddContextFile")
        inner = result.get("addContextFileResponse", result) if isinstance(result, dict) else {}
        file_id = inner.get("fileId")
        if not file_id:
            raise Unavailable("widgetAddContextFile answered without fileId", status=200)
        return ContextFile(file_id=str(file_id), session=str(inner.get("session") or session),
                           token_count=_int_or_none(inner.get("tokenCount")))

    def list_file_metadata(self, creds: Credentials, *, session: str,
                           origin: str | None = "AI_GENERATED") -> list[FileMetadata]:
        """Files of a session, optionally filtered by origin (AI_GENERATED | USER_UPLOADED)."""
        request: dict[str, Any] = {"name": session}
        if origin:
            request["filter"] = f"file_origin_type = {origin}"
        result = self._call(creds, "widgetListSessionFileMetadata", "listSessionFileMetadataRequest", request)
        inner = result.get("listSessionFileMetadataResponse", {}) if isinstance(result, dict) else {}
        return [_file_metadata(item) for item in inner.get("fileMetadata") or () if isinstance(item, dict)]

    def download_file(self, creds: Credentials, *, session: str, file_id: str,
                      max_bytes: int = DEFAULT_MAX_DOWNLOAD) -> bytes:
        """Bytes of a session file; tries /v1alpha/..., then /download/v1alpha/... on a 404."""
        base = self.config.api_url.rstrip("/")
        path = f"v1alpha/{session.strip('/')}:downloadFile"
        params = {"fileId": file_id, "alt": "media"}
        try:
            data = self._download(creds, f"{base}/{path}", params, max_bytes)
        except NotFound:
            logger.debug("download 404, trying the /download prefix", extra={"account": creds.key})
            data = self._download(creds, f"{base}/download/{path}", params, max_bytes)
        return decode_base64_media(data)

    # ---- plumbing ------------------------------------------------------------------------------

    def _download(self, creds: Credentials, url: str, params: dict[str, str], max_bytes: int) -> bytes:
        resp = self._with_jwt(creds, lambda jwt: self._send(creds, "downloadFile", "GET", url, jwt,
                                                             params=params, stream=True))
        with resp:
            chunks: list[bytes] = []
            total = 0
            try:
                for chunk in resp.iter_content(chunk_size=256 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise InvalidRequest(f"file larger than {max_bytes} bytes", status=200,
                                             reason="TOO_LARGE")
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise Unavailable(f"download interrupted: {type(exc).__name__}") from None
        return b"".join(chunks)

    def _call(self, creds: Credentials, method: str, request_key: str, request: dict[str, Any]) -> Any:
        body = self._envelope(creds, request_key, request)
        url = self._api_url(method)
        resp = self._with_jwt(creds, lambda jwt: self._send(creds, method, "POST", url, jwt, json_body=body))
        with resp:
            return _json_body(resp, method)

    def _with_jwt(self, creds: Credentials, attempt: Callable[[str], UpstreamResponse]) -> UpstreamResponse:
        """Run attempt(jwt); on a refused JWT, refresh it once (never reusing the refused one) and retry."""
        jwt = self._tokens.get(creds)
        try:
            return attempt(jwt)
        except AuthExpired:
            logger.info("jwt refused, refreshing and retrying once", extra={"account": creds.key})
            return attempt(self._tokens.get(creds, reject=jwt))

    def _send(self, creds: Credentials, method: str, verb: str, url: str, jwt: str, *,
              json_body: Any = None, raw_body: Base64JsonBody | None = None, params: dict[str, str] | None = None,
              stream: bool = False) -> UpstreamResponse:
        """One HTTP exchange; returns the 200 response (open when streaming) or raises the mapped error."""
        headers = self._headers(creds, jwt)
        timeout = self._timeouts(method)
        started = time.monotonic()
        data = raw_body if raw_body is not None else (
            None if json_body is None else json.dumps(json_body, ensure_ascii=False).encode("utf-8"))
        lean = self._lean_for(creds.proxy)
        try:
            if lean is not None:
                resp = lean.request(verb, url, headers=header_block(headers), body=data, params=params,
                                    timeout=timeout, stream=stream)
            else:
                resp = self._send_with_requests(creds.proxy, verb, url, headers, data, params, timeout, stream)
        except requests.RequestException as exc:
            # The exception text may hold the proxy URL (with its password): log and raise the type only.
            logger.info("upstream call failed", extra={"account": creds.key, "method": method,
                                                        "error": type(exc).__name__})
            raise Unavailable(f"{method}: {type(exc).__name__}", reason=type(exc).__name__) from None
        latency = round((time.monotonic() - started) * 1000)
        context = {"account": creds.key, "method": method, "status": resp.status_code, "latency_ms": latency}
        if resp.status_code == 200:
            logger.debug("upstream call", extra=context)
            return resp
        with resp:
            body = _read_limited(resp, ERROR_BODY_LIMIT) if stream else resp.content[:ERROR_BODY_LIMIT]
        error = error_from_response(resp.status_code, body, headers=resp.headers)
        logger.info("upstream call refused", extra={**context, "kind": error.kind, "reason": error.reason})
        raise error

    def _send_with_requests(self, proxy: str | None, verb: str, url: str, headers: dict[str, str],
                            data: bytes | Base64JsonBody | None, params: dict[str, str] | None,
                            timeout: tuple[float, float], stream: bool) -> requests.Response:
        session = self._http(proxy)
        # Prepared without Session.prepare_request: the session has no headers, cookies, auth or environment
        # settings to merge in (cookies are refused, trust_env is off), and that merging cost a third of
        # requests' own time per call. Redirects are never followed: the API host does not redirect, and a
        # redirect would carry the JWT elsewhere.
        prepared = requests.Request(verb, url, headers=headers, params=params, data=data).prepare()
        return session.send(prepared, stream=stream, timeout=timeout, verify=self.config.verify_tls,
                            proxies=session.proxies, allow_redirects=False)

    def _headers(self, creds: Credentials, jwt: str) -> dict[str, str]:
        origin = self._origin()
        return {
            "accept": "*/*",
            "accept-encoding": "gzip, deflate",
            "authorization": f"Bearer {jwt}",
            "content-type": "application/json",
            "origin": origin,
            "referer": f"{origin}/",
            "user-agent": creds.user_agent,
            "x-server-timeout": SERVER_TIMEOUT_HEADER,
        }

    def _origin(self) -> str:
        return self.config.auth_url.rstrip("/")

    def _envelope(self, creds: Credentials, request_key: str, request: dict[str, Any]) -> dict[str, Any]:
        return {"configId": creds.team_id, "additionalParams": {"token": "-"}, request_key: request}

    def _api_url(self, method: str) -> str:
        return f"{self.config.api_url.rstrip('/')}{API_PATH}{method}"

    def _timeouts(self, method: str) -> tuple[float, float]:
        """(connect, read) timeouts: the configured ones, shortened to what is left of a call_deadline."""
        connect, read = self.config.connect_timeout, self.config.read_timeout
        deadline = _deadline.get()
        if deadline is None:
            return connect, read
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineReached(f"{method}: the deadline passed before the call", reason="DEADLINE")
        return min(connect, left), min(read, left)

    def _getoxsrf(self, creds: Credentials) -> XsrfGrant:
        connect, read = self._timeouts("getoxsrf")
        config = dataclasses.replace(self.config, connect_timeout=connect, read_timeout=read)
        return getoxsrf(self._lean_for(creds.proxy) or self._http(creds.proxy), config, creds)

    def _lean_for(self, proxy: str | None) -> Http11Client | None:
        """The lean client when it serves this call: switched on, and the call goes direct (no proxy)."""
        return self._lean if not proxy else None

    def _http(self, proxy: str | None) -> requests.Session:
        """The pooled session for this proxy (None = direct), created on first use."""
        with self._lock:
            session = self._sessions.get(proxy)
            if session is None:
                session = self._sessions[proxy] = _new_session(proxy, self.config)
            return session


def _new_session(proxy: str | None, config: ClientConfig) -> requests.Session:
    session = requests.Session()
    adapter = QuickAckAdapter(pool_connections=4, pool_maxsize=config.pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = config.verify_tls
    # Accounts share this session: a cookie set for one (e.g. by getoxsrf) must never ride along with another.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    # Explicit proxies only: "None" must mean direct, not whatever HTTP(S)_PROXY the process inherited.
    session.trust_env = False
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    return session


def _read_limited(resp: UpstreamResponse, limit: int) -> bytes:
    if isinstance(resp, Http11Response):
        return resp.read(limit)
    try:
        data = resp.raw.read(limit, decode_content=True)
    except (requests.RequestException, OSError, ValueError):
        return b""
    return data or b""


def _json_body(resp: UpstreamResponse, method: str) -> Any:
    text = resp.content.decode("utf-8", errors="replace").lstrip()
    text = text.removeprefix(")]}'")  # not sent by the API host, but stripped defensively (a Google JSON guard)
    try:
        return json.loads(text)
    except ValueError:
        raise Unavailable(f"{method} answered with a non-JSON body", status=resp.status_code) from None


def _file_metadata(item: dict[str, Any]) -> FileMetadata:
    return FileMetadata(file_id=str(item.get("fileId", "")), name=str(item.get("name", "")),
                        mime_type=str(item.get("mimeType", "")), session=str(item.get("session", "")),
                        byte_size=_int_or_none(item.get("byteSize")),
                        origin=str(item.get("fileOriginType", "")))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def decode_base64_media(data: bytes) -> bytes:
    """Undo the upstream oddity of media sent as base64 text (PNG `iVBORw0KGgo`, JPEG `/9j/`, ...)."""
    head = data[:32].strip()
    if len(head) < 8 or not _BASE64_HEAD.fullmatch(head):
        return data
    try:
        probe = base64.b64decode(head[:8])  # 6 bytes: enough for the magic numbers we know
        if not (probe.startswith(_MEDIA_MAGIC) or _BASE64_HEAD_MP4.match(head)):
            return data
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return data


__all__ = ["DeadlineReached", "GeminiClient", "call_deadline", "decode_base64_media", "redact"]
