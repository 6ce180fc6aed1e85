"""Run one chat completion over the pool: lease, open the upstream stream, fail over, relay events.

A ChatRun drives the upstream on a worker thread and hands typed events to the request thread
through a queue. The request thread can then wait with a timeout (the failover deadline before the
first byte, keep-alive comments during long silences) and stop the run when the client leaves.
"""
from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections

from accounts import pool as account_pool
from accounts.dashboard import request_finished_prune, request_log_add
from accounts.models import Account, ApiKey, PoolSettings
from accounts.upstream import credentials_for, get_client, get_spare_sessions
from files_app import services as files
from files_app.models import StoredFile
from gemini_enterprise.assist import AssistStream
from gemini_enterprise.client import call_deadline
from gemini_enterprise.errors import InvalidRequest as UpstreamInvalidRequest
from gemini_enterprise.errors import NotFound as UpstreamNotFound
from gemini_enterprise.errors import PolicyBlocked, Unavailable, UpstreamError
from gemini_enterprise.types import (
    Credentials,
    FinalState,
    GeneratedFile,
    SessionInfo,
    StreamError,
    TextDelta,
    ThoughtDelta,
    ToolsSpec,
)
from gempool_site.db import release_connections
from models_catalog.models import ModelConfig
from openai_api.run_events import Delta, Failed, Finished, Opened, RunEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatPlan:
    """Everything a run needs, resolved in the request thread before any upstream call."""

    request_id: str
    model: ModelConfig
    query: str
    stored_files: list[StoredFile]
    stream: bool
    include_usage: bool
    image_base_url: str
    api_key: ApiKey | None
    pool: PoolSettings  # read once, while planning: the run reuses it

    @property
    def tools(self) -> ToolsSpec:
        return ToolsSpec(web_grounding=self.model.web_grounding, image_generation=self.model.image_generation,
                         video_generation=self.model.video_generation)


class _Aborted(Exception):
    """The client went away; stop quietly."""


class _EmptyAnswer(Unavailable):
    """The upstream finished without text or media (DR/GO see thought-only answers): try another account."""

    account_fault = False


@dataclass
class _Attempt:
    account: Account
    produced: bool = False  # did any output reach the client during this attempt?
    text_chars: int = 0
    files: list[GeneratedFile] = field(default_factory=list)
    session_path: str = ""
    final: FinalState | None = None


class ChatRun:
    """One completion in flight. `buffered` (non-stream) keeps output until the answer is complete,
    which lets a failure at any point move to another account; streamed runs fail over only until
    the first byte of output has been handed out."""

    def __init__(self, plan: ChatPlan, *, buffered: bool) -> None:
        self.plan = plan
        self.buffered = buffered
        self.events: queue.SimpleQueue[RunEvent] = queue.SimpleQueue()
        self._aborted = threading.Event()
        self._current = None  # the AssistStream being read, so abort() can close its socket
        self._opened = False
        self._buffer: list[Delta] = []
        self.started = time.monotonic()
        self.deadline = self.started + settings.GEMPOOL_FAILOVER_DEADLINE  # for the first byte of an answer
        self.attempts = 0
        self.account: Account | None = None
        self.outcome: RunEvent | None = None
        self.usage_chars = {"content": 0, "reasoning": 0}
        self._refill: Credentials | None = None  # the account that answered: its next spare session comes after
        self._thread = threading.Thread(target=self._drive_on_worker, name=f"chat-{plan.request_id}",
                                        daemon=True)

    def start(self) -> ChatRun:
        """Drive the run on a worker thread; the caller reads `events` as they come."""
        self._thread.start()
        return self

    def run_here(self) -> ChatRun:
        """Drive the run to its end on the calling thread; `events` then holds the whole answer.

        For buffered runs, which send nothing before the end anyway: no thread to start and no second
        database connection, and every upstream call is still bounded by the failover deadline.
        """
        self._drive()
        return self

    def abort(self) -> None:
        """Stop the run (client disconnected): wake the upstream read so the worker stops and closes it now."""
        self._aborted.set()
        current = self._current
        if current is not None:
            current.interrupt()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # ---- the worker thread -----------------------------------------------------------------------

    def _drive(self) -> None:
        try:
            self.outcome = self._run_attempts()
        except _Aborted:
            self.outcome = Failed(499, "client closed the request", code="client_closed")
        except Exception:  # noqa: BLE001 - a crash must still end the client's stream
            logger.exception("chat run crashed", extra={"request_id": self.plan.request_id})
            self.outcome = Failed(500, "The server had an error while processing your request.",
                                  code="internal_error")
        finally:
            self._emit(self.outcome)
            self._record()
            spares = get_spare_sessions()
            if spares is not None and isinstance(self.outcome, Finished):
                # The account answered: its next request finds a session waiting. Made after the answer,
                # so this request never waits behind it.
                spares.refill(self._refill)
            # After the client has its answer: old generated media go in batches, at most once per
            # GEMPOOL_MEDIA_PRUNE_INTERVAL across the cluster (a cache flag), never by scanning folders.
            files.media_prune_if_due()

    def _drive_on_worker(self) -> None:
        try:
            self._drive()
            request_finished_prune(sender=None)  # no request ends on this thread to run the retention check
        finally:
            connections.close_all()  # this thread ends here: nothing may outlive it

    def _run_attempts(self) -> RunEvent:
        pool = self.plan.pool
        tried: set[int] = set()
        last_error: UpstreamError | None = None
        while self.attempts < settings.GEMPOOL_MAX_ATTEMPTS and time.monotonic() < self.deadline:
            self._check_aborted()
            account = account_pool.lease_account(exclude=tried)
            release_connections()
            if account is None:
                break
            tried.add(account.pk)
            self.attempts += 1
            self.account = account
            attempt = _Attempt(account=account)
            try:
                return self._attempt(attempt, pool)
            except UpstreamError as error:
                last_error = error
                self._log_attempt_failure(attempt, error)
                if not isinstance(error, _EmptyAnswer):
                    account_pool.report_failure(account=account, error=error, pool=pool)
                    release_connections()
                if not error.retryable_elsewhere or attempt.produced:
                    return self._failed_for(error, mid_stream=attempt.produced)
                self._buffer.clear()
        if last_error is not None and time.monotonic() >= self.deadline:
            return Failed(504, f"No account answered within {settings.GEMPOOL_FAILOVER_DEADLINE:g} s; the last "
                               f"error was {last_error.kind}.", code="upstream_timeout")
        return self._exhausted(last_error, tried)

    def _attempt(self, attempt: _Attempt, pool) -> RunEvent:
        client = get_client()
        creds = credentials_for(attempt.account, pool)
        spares = get_spare_sessions()
        # Until the answer opens, every upstream call shares the failover deadline: a slow upstream must
        # not hold this thread (and the account) after the client was told it took too long.
        with call_deadline(self.deadline):
            try:
                stream, session = self._open(client, creds, attempt, spares)
            except UpstreamError:
                if spares is not None:
                    spares.discard(creds)
                raise
        self._refill = creds
        self._current = stream
        try:
            self._check_aborted()  # abort() may have come while the stream was opening, with nothing to wake
            if not self._opened:
                self._opened = True
                self._emit(Opened(account_id=attempt.account.pk))
            self._relay(stream, attempt)
        finally:
            self._current = None
            stream.close()
        return self._finish(attempt, client, creds, session)

    def _open(self, client, creds, attempt: _Attempt, spares) -> tuple[AssistStream, str]:
        """The answer's stream and its session: a spare session if the account has one, else a new one."""
        spare = spares.take(creds) if spares is not None else None
        if spare is None:
            return self._ask(client, creds, attempt, client.create_session(creds))
        try:
            return self._ask(client, creds, attempt, spare)
        except (UpstreamNotFound, UpstreamInvalidRequest) as error:
            # A spare may have expired upstream in the meantime: the account is fine, try a new session.
            logger.info("spare session refused, creating one", extra={
                "request_id": self.plan.request_id, "account_id": attempt.account.pk, "error_kind": error.kind})
            return self._ask(client, creds, attempt, client.create_session(creds))

    def _ask(self, client, creds, attempt: _Attempt, session: str) -> tuple[AssistStream, str]:
        file_ids = [files.upstream_file_id_for(client=client, creds=creds, account=attempt.account,
                                               session=session, stored_file=stored)
                    for stored in self.plan.stored_files]
        release_connections()
        self._check_aborted()
        stream = client.stream_assist(creds, session=session, query=self.plan.query, file_ids=file_ids,
                                      model_id=self.plan.model.upstream_model_id or None, tools=self.plan.tools)
        return stream, session

    def _relay(self, stream, attempt: _Attempt) -> None:
        for event in stream:
            self._check_aborted()
            if isinstance(event, TextDelta) and event.text:
                attempt.text_chars += len(event.text)
                self._output(attempt, Delta("content", event.text))
            elif isinstance(event, ThoughtDelta) and event.text:
                self._output(attempt, Delta("reasoning", event.text))
            elif isinstance(event, GeneratedFile):
                attempt.files.append(event)
            elif isinstance(event, SessionInfo):
                attempt.session_path = event.session
            elif isinstance(event, FinalState):
                attempt.final = event
            elif isinstance(event, StreamError):
                raise event.error
        self._check_aborted()

    def _finish(self, attempt: _Attempt, client, creds, session: str) -> RunEvent:
        final = attempt.final
        if final is not None and final.state == "SKIPPED":
            self._report_success(attempt.account)
            self._flush()
            return Finished("content_filter")
        if final is not None and final.state == "FAILED":
            raise Unavailable("the upstream reported the answer as FAILED", status=200, reason="FAILED")
        if attempt.files:
            media = files.media_fetch_generated(client=client, creds=creds, account=attempt.account,
                                                session=attempt.session_path or session, files=attempt.files)
            links = [_media_markdown(item, files.media_url(media=item, base_url=self.plan.image_base_url))
                     for item in media]
            if links:
                prefix = "\n\n" if attempt.text_chars else ""
                self._output(attempt, Delta("content", prefix + "\n\n".join(links)))
                attempt.text_chars += 1
        if not attempt.text_chars:
            raise _EmptyAnswer("the upstream answered with no text and no media", status=200)
        self._report_success(attempt.account)
        release_connections()
        self._flush()
        return Finished("stop")

    # ---- helpers ---------------------------------------------------------------------------------

    def _output(self, attempt: _Attempt, delta: Delta) -> None:
        self.usage_chars[delta.kind] += len(delta.text)
        if self.buffered:
            self._buffer.append(delta)
        else:
            attempt.produced = True
            self._emit(delta)

    def _flush(self) -> None:
        for delta in self._buffer:
            self._emit(delta)
        self._buffer.clear()

    def _emit(self, event: RunEvent | None) -> None:
        if event is not None:
            self.events.put(event)

    def _report_success(self, account: Account) -> None:
        # The answer is complete by now: bookkeeping trouble (a locked or unreachable database) is
        # logged, never turned into an error at the end of an answer the client already has.
        try:
            account_pool.report_success(account=account)
        except DatabaseError:
            logger.exception("could not record a success", extra={"request_id": self.plan.request_id,
                                                                  "account_id": account.pk})

    def _check_aborted(self) -> None:
        if self._aborted.is_set():
            raise _Aborted

    def _failed_for(self, error: UpstreamError, *, mid_stream: bool) -> Failed:
        if isinstance(error, PolicyBlocked):
            return Failed(400, f"The request was blocked by the content policy: {error.message}",
                          type="invalid_request_error", code="content_policy_violation")
        if isinstance(error, UpstreamInvalidRequest):
            return Failed(400, f"The upstream refused the request: {error.message}",
                          type="invalid_request_error", code="upstream_invalid_request")
        where = "after the answer had started" if mid_stream else "before answering"
        return Failed(502, f"The upstream failed {where} ({error.kind}); the answer is incomplete."
                      if mid_stream else f"The upstream failed {where} ({error.kind}).", code="upstream_error")

    def _exhausted(self, last_error: UpstreamError | None, tried: set[int]) -> Failed:
        if tried and last_error is not None and not self._all_resting():
            return Failed(503, f"No account could answer after {self.attempts} attempt(s); the last error was "
                               f"{last_error.kind}.", code="upstream_unavailable")
        state = account_pool.pool_state()
        release_connections()
        if state.soonest_recovery is not None:
            wait = max(1, int((state.soonest_recovery.timestamp() - time.time()) + 0.999))
            return Failed(429, f"Every account is cooling down; the first is back in {wait} s.",
                          type="rate_limit_error", code="all_accounts_cooling_down", retry_after=wait)
        if state.enabled == 0:
            return Failed(503, "No account is configured and enabled.", code="no_accounts")
        return Failed(503, "No account can serve right now (they need a new login or failed just now).",
                      code="no_available_accounts")

    def _all_resting(self) -> bool:
        state = account_pool.pool_state()
        release_connections()
        return state.soonest_recovery is not None and state.cooling >= state.enabled

    def _log_attempt_failure(self, attempt: _Attempt, error: UpstreamError) -> None:
        logger.warning("chat attempt failed", extra={
            "request_id": self.plan.request_id, "account_id": attempt.account.pk, "error_kind": error.kind,
            "status": error.status, "produced": attempt.produced,
            "latency_ms": round((time.monotonic() - self.started) * 1000)})

    def _record(self) -> None:
        outcome = self.outcome
        status = 200
        error_kind = ""
        if isinstance(outcome, Failed):
            error_kind = outcome.code or "error"
            status = 200 if (self._opened and not self.buffered) else outcome.status
        try:
            request_log_add(
                account_id=self.account.pk if self.account else None,
                api_key_id=self.plan.api_key.pk if self.plan.api_key else None, endpoint="chat",
                model=self.plan.model.id, stream=not self.buffered, status_code=status, attempts=self.attempts,
                error_kind=error_kind, latency_ms=round((time.monotonic() - self.started) * 1000),
                request_id=self.plan.request_id)
        except Exception:  # noqa: BLE001 - telemetry must never break a finished answer
            logger.exception("could not record the request", extra={"request_id": self.plan.request_id})


def _media_markdown(media, url: str) -> str:
    if media.mime_type.startswith("video/"):
        return f"[video]({url})"
    return f"![image]({url})"


def new_request_id() -> str:
    """A short id for logs and the completion id."""
    return secrets.token_hex(12)
