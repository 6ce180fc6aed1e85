"""Run one chat completion over the pool: lease, open the upstream stream, fail over, relay events.

A ChatRun is a generator of typed events that the request thread drives itself: it reads the upstream
socket, and each fragment goes out to the client from the same thread, with no worker thread, queue or
second database connection per request. Silences come up as Idle events (a keep-alive is due), and a
client that leaves closes the generator, which closes the upstream at once.
"""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from accounts import pool as account_pool
from accounts import quotas
from accounts.key_limits import KeyAdmission
from accounts.models import Account, ApiKey, PoolSettings
from accounts.upstream import credentials_for, get_client, get_spare_sessions
from completions.tool_emulation import StreamingToolParser, ToolEmulation
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
    StreamIdle,
    TextDelta,
    ThoughtDelta,
    ToolsSpec,
)
from gempool_site.db import releases_connections
from metering.models import AttemptOutcome
from metering.record_writer import request_finished
from metering.records import AttemptRecord, RequestRecord, request_observe
from models_catalog.models import ModelConfig
from openai_api.conversation import estimate_tokens, tokens_for_chars
from openai_api.run_events import IDLE, Delta, Failed, Finished, MediaReady, Opened, RunEvent

logger = logging.getLogger(__name__)
ATTACHMENT_TOKENS = 258  # what one attached file is estimated to cost in prompt tokens

SPARE_IN_FLIGHT_WAIT = 5.0  # seconds a request waits for its account's spare session being made


@dataclass(frozen=True)
class ChatPlan:
    """Everything a run needs, resolved in the request thread before any upstream call."""

    request_id: str
    model: ModelConfig
    query: str
    stored_files: list[StoredFile]
    stream: bool
    include_usage: bool
    request_base_url: Callable[[], str]  # the site's root as the client called it (when the pool names none)
    api_key: ApiKey | None
    pool: PoolSettings  # read once, while planning: the run reuses it
    tool_emulation: ToolEmulation | None = None  # the client offered tools the model may call
    endpoint: str = "chat"  # the API face, as the request log records it ("chat" | "responses")
    media_required: bool = False  # the answer must bring images (/v1/images): an answer without is retried
    tools_override: ToolsSpec | None = None  # upstream tools other than the model's own (images: image only)
    admission: KeyAdmission | None = None  # the key's budgets and concurrency slot (accounts.key_limits)
    admission_ends_with_run: bool = True  # False: the caller runs several plans under one admission, ends it
    prompt_excerpt: str | None = None  # what the request log keeps of the prompt (metering.records.prompt_excerpt)

    @property
    def image_base_url(self) -> str:
        """Where links to the images this run stores point: the pool's image base URL, else the site's root."""
        return (self.pool.image_base_url or self.request_base_url()).rstrip("/")

    @property
    def quota_kinds(self) -> tuple[str, ...]:
        """The daily quota kinds an answer may use up: an account must have each left (accounts.quotas).
        Read from the upstream tools the run offers, so an images plan needs image quota left."""
        return quotas.request_kinds(self.tools)

    @property
    def tools(self) -> ToolsSpec:
        if self.tools_override is not None:
            return self.tools_override
        return ToolsSpec(web_grounding=self.model.web_grounding, image_generation=self.model.image_generation,
                         video_generation=self.model.video_generation)


class _EmptyAnswer(Unavailable):
    """The upstream finished without text or media (thought-only answers happen): try another account."""

    account_fault = False


class _NoMedia(_EmptyAnswer):
    """An answer that had to bring an image came without one, even after waiting for late listings."""

    @property
    def kind(self) -> str:
        return "no_image"


@dataclass
class _Attempt:
    account: Account
    produced: bool = False  # did any output reach the client during this attempt?
    text_chars: int = 0
    files: list[GeneratedFile] = field(default_factory=list)
    session_path: str = ""
    final: FinalState | None = None
    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=timezone.now)


class ChatRun:
    """One completion in flight, driven by whoever iterates `events()`. `buffered` (non-stream) keeps output
    until the answer is complete, which lets a failure at any point move to another account; streamed runs
    fail over only until the first byte of output has been handed out."""

    def __init__(self, plan: ChatPlan, *, buffered: bool) -> None:
        self.plan = plan
        self.buffered = buffered
        self._opened = False
        self._buffer: list[Delta] = []
        self.started = time.monotonic()
        self.deadline = self.started + settings.GEMPOOL_FAILOVER_DEADLINE  # for the first byte of an answer
        self.attempts = 0
        self.account: Account | None = None
        self.outcome: RunEvent | None = None
        self.usage_chars = {"content": 0, "reasoning": 0}
        self._stream: AssistStream | None = None  # the upstream answer being relayed
        self._parser: StreamingToolParser | None = None  # reads calls out of the answer when tools were offered
        self.tool_calls = 0
        self.attempt_records: list[AttemptRecord] = []  # every upstream attempt, for its account's figures
        self._current: _Attempt | None = None  # the attempt in flight, until it is recorded
        self.first_output_at: float | None = None  # when the answer's first output was handed out
        self.last_error: UpstreamError | None = None  # the latest attempt's failure, for faces that explain it
        self._answered_early = False  # the face had all it wanted (a stop sequence) and closed the run
        self._last_attempt: _Attempt | None = None  # the latest attempt once recorded (quotas count its files)

    def events(self) -> Generator[RunEvent, None, None]:
        """Run on the calling thread: Opened, Deltas and Idles as the upstream sends them, then the outcome.

        The caller's thread reads the upstream itself (no hand-off per fragment). Closing the iterator early
        (the client went away) closes the upstream at once and records the run as the client's doing.
        Every upstream call before the answer opens is bounded by the failover deadline.
        """
        try:
            try:
                self.outcome = yield from self._run_attempts()
            except GeneratorExit:
                self.outcome = Finished("stop") if self._answered_early else \
                    Failed(499, "client closed the request", code="client_closed")
                raise
            except Exception:  # noqa: BLE001 - a crash must still end the client's stream
                logger.exception("chat run crashed", extra={"request_id": self.plan.request_id})
                self.outcome = Failed(500, "The server had an error while processing your request.",
                                      code="internal_error")
            yield self.outcome
        finally:
            # Once: after the outcome went out (whether or not more is asked), or on a close.
            self._bookkeep()
            self._count_limits()

    def end_early(self) -> None:
        """The face has the whole answer it will send (a stop sequence matched): closing the events after
        this records the run as answered, not as a client that went away."""
        self._answered_early = True

    def output_ready(self) -> bool:
        """Is the next piece of output already read, so asking for it will not wait on the upstream?"""
        stream = self._stream
        return stream is not None and not self.buffered and stream.output_ready()

    def tokens_to_charge(self) -> int:
        """The estimated tokens a key's daily token budget is charged for this run: none if it never opened."""
        return sum(self.tokens_estimate()[:2]) if self._opened else 0

    def _run_attempts(self) -> Iterator[RunEvent]:
        pool = self.plan.pool
        tried: set[int] = set()
        last_error: UpstreamError | None = None
        while self.attempts < settings.GEMPOOL_MAX_ATTEMPTS and time.monotonic() < self.deadline:
            account = _lease(exclude=tried, kinds=self.plan.quota_kinds)
            if account is None:
                break
            tried.add(account.pk)
            self.attempts += 1
            self.account = account
            attempt = self._current = _Attempt(account=account)
            try:
                outcome = yield from self._attempt(attempt, pool)
                self._record_attempt(AttemptOutcome.OK)
                return outcome
            except UpstreamError as error:
                last_error = self.last_error = error
                self._record_attempt(AttemptOutcome.ERROR, error.kind)
                self._log_attempt_failure(attempt, error)
                if not isinstance(error, _EmptyAnswer):
                    _report_failure(account=account, error=error, pool=pool)
                if not error.retryable_elsewhere or attempt.produced:
                    return self._failed_for(error, mid_stream=attempt.produced)
                self._buffer.clear()
                # The next account's answer (or none) is what the request gets: this one's failure
                # stays on its own attempt record, never on the account that answers.
                self.account, self.first_output_at = None, None
        if last_error is not None and time.monotonic() >= self.deadline:
            return Failed(504, f"No account answered within {settings.GEMPOOL_FAILOVER_DEADLINE:g} s; the last "
                               f"error was {last_error.kind}.", code="upstream_timeout")
        return self._exhausted(last_error, tried)

    def _attempt(self, attempt: _Attempt, pool) -> Iterator[RunEvent]:
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
        if spares is not None:
            # The account is answering: its next request finds a session waiting. Made while this answer
            # is being written upstream (the wait for its first fragment is the longest), on its own
            # thread so this request never waits behind it, and ready long before a client that asks
            # again the moment it reads [DONE] (one account, sequential streams: bench/ttft_probe.py).
            spares.refill(creds)
        self._stream = stream
        self._parser = self.plan.tool_emulation.parser() if self.plan.tool_emulation else None
        try:
            if not self._opened:
                self._opened = True
                yield Opened(account_id=attempt.account.pk)
            yield from self._relay(stream, attempt)
        finally:
            self._stream = None
            stream.close()
        return (yield from self._finish(attempt, client, creds, session))

    def _open(self, client, creds, attempt: _Attempt, spares) -> tuple[AssistStream, str]:
        """The answer's stream and its session: a spare session if the account has one, else a new one."""
        # A spare still being made (the previous answer just ended) is waited for: it started before any
        # session this request could make would. Not for long: one slower than a few round trips is stuck.
        wait = min(SPARE_IN_FLIGHT_WAIT, self.deadline - time.monotonic())
        spare = spares.take(creds, wait=wait) if spares is not None else None
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
        file_ids = _upstream_file_ids(client=client, creds=creds, account=attempt.account, session=session,
                                      stored_files=self.plan.stored_files)
        # Non-stream clients get no keep-alives, so their runs need no word of silences either.
        idle_after = None if self.buffered else settings.GEMPOOL_KEEPALIVE_SECONDS
        stream = client.stream_assist(creds, session=session, query=self.plan.query, file_ids=file_ids,
                                      model_id=self.plan.model.upstream_model_id or None, tools=self.plan.tools,
                                      idle_after=idle_after)
        return stream, session

    def _relay(self, stream, attempt: _Attempt) -> Iterator[RunEvent]:
        admission = self.plan.admission
        for event in stream:
            if admission is not None:
                admission.renew()  # the key's concurrency slot lives while the answer moves
            if isinstance(event, TextDelta) and event.text:
                attempt.text_chars += len(event.text)
                text = event.text if self._parser is None else self._parser.feed(event.text)
                if text:
                    yield from self._output(attempt, Delta("content", text))
            elif isinstance(event, ThoughtDelta) and event.text:
                yield from self._output(attempt, Delta("reasoning", event.text))
            elif isinstance(event, StreamIdle):
                yield IDLE
            elif isinstance(event, GeneratedFile):
                attempt.files.append(event)
            elif isinstance(event, SessionInfo):
                attempt.session_path = event.session
            elif isinstance(event, FinalState):
                attempt.final = event
            elif isinstance(event, StreamError):
                raise event.error

    def _finish(self, attempt: _Attempt, client, creds, session: str) -> Iterator[RunEvent]:
        final = attempt.final
        if final is not None and final.state == "SKIPPED":
            yield from self._flush()
            return Finished("content_filter")
        if final is not None and final.state == "FAILED":
            raise Unavailable("the upstream reported the answer as FAILED", status=200, reason="FAILED")
        if self.plan.media_required:
            return (yield from self._finish_media(attempt, client, creds, session))
        if attempt.files:
            media = files.media_fetch_generated(client=client, creds=creds, account=attempt.account,
                                                session=attempt.session_path or session, files=attempt.files)
            links = [_media_markdown(item, files.media_url(media=item, base_url=self.plan.image_base_url))
                     for item in media]
            if links:
                prefix = "\n\n" if attempt.text_chars else ""
                yield from self._output(attempt, Delta("content", prefix + "\n\n".join(links)))
                attempt.text_chars += 1
        if self._parser is not None:
            return (yield from self._finish_tools(attempt, client, creds, session))
        if not attempt.text_chars:
            raise _EmptyAnswer("the upstream answered with no text and no media", status=200)
        yield from self._flush()
        return Finished("stop")

    # ---- answers that must bring media (/v1/images) ------------------------------------------------

    def _finish_media(self, attempt: _Attempt, client, creds, session: str) -> Iterator[RunEvent]:
        """The answer's images, waiting for ones the upstream lists late; none at all is _NoMedia, which
        moves the run to another account (with a fresh deadline: this account did answer)."""
        session_path = attempt.session_path or session
        if not attempt.files:  # kept on the attempt: the account's daily image quota counts them
            attempt.files = files.media_await_listed(
                client=client, creds=creds, session=session_path, wait=settings.GEMPOOL_IMAGE_WAIT_SECONDS,
                interval=settings.GEMPOOL_IMAGE_POLL_INTERVAL)
        generated = attempt.files
        media = files.media_fetch_generated(client=client, creds=creds, account=attempt.account,
                                            session=session_path, files=generated) if generated else []
        if not media:
            self.deadline = time.monotonic() + settings.GEMPOOL_FAILOVER_DEADLINE
            raise _NoMedia("the answer came without an image", status=200, reason="NO_IMAGE")
        yield MediaReady(media=tuple(media))
        return Finished("stop")

    # ---- emulated tool calls ---------------------------------------------------------------------

    def _finish_tools(self, attempt: _Attempt, client, creds, session: str) -> Iterator[RunEvent]:
        """Hand out the answer's calls; if it made no usable call where one was required (or it tried and
        failed), ask once more in the same session before giving up."""
        emulation = self.plan.tool_emulation
        parsed = self._parser.finish()
        if not parsed.calls and (emulation.request.choice.requires_call or parsed.rejected):
            logger.info("no usable tool call, asking again", extra={
                "request_id": self.plan.request_id, "account_id": attempt.account.pk,
                "problem": parsed.problem(), "rejected": len(parsed.rejected)})
            if not emulation.request.choice.requires_call and parsed.text:
                yield from self._output(attempt, Delta("content", parsed.text))  # auto: the prose stands
            yield from self._ask_again(attempt, client, creds, session, emulation.follow_up(parsed.problem()))
            parsed = self._parser.finish()
            if not parsed.calls and emulation.request.choice.requires_call:
                self._buffer.clear()
                return Failed(502, "The model did not make the tool call that tool_choice requires, even when "
                                   f"asked again: its answer {parsed.problem()}.", code="tool_call_missing")
            if not parsed.calls and parsed.rejected and not (parsed.text or self.usage_chars["content"]):
                return Failed(502, f"The model's answer {parsed.problem()}, even when asked again.",
                              code="tool_call_invalid")
        if parsed.text:
            yield from self._output(attempt, Delta("content", parsed.text))
        if not parsed.calls and not attempt.text_chars:
            raise _EmptyAnswer("the upstream answered with no text and no media", status=200)
        yield from self._flush()
        for call in parsed.calls:
            self.usage_chars["content"] += len(call.name) + len(call.arguments)
            yield call
        self.tool_calls = len(parsed.calls)
        return Finished("tool_calls" if parsed.calls else "stop")

    def _ask_again(self, attempt: _Attempt, client, creds, session: str, question: str) -> Iterator[RunEvent]:
        """The follow-up question, in the session that holds the first answer, relayed like the first."""
        idle_after = None if self.buffered else settings.GEMPOOL_KEEPALIVE_SECONDS
        stream = client.stream_assist(creds, session=session, query=question,
                                      model_id=self.plan.model.upstream_model_id or None, tools=self.plan.tools,
                                      idle_after=idle_after)
        self._stream = stream
        self._parser = self.plan.tool_emulation.parser()
        try:
            yield from self._relay(stream, attempt)
        finally:
            self._stream = None
            stream.close()

    # ---- helpers ---------------------------------------------------------------------------------

    def _output(self, attempt: _Attempt, delta: Delta) -> Iterator[Delta]:
        self.usage_chars[delta.kind] += len(delta.text)
        if self.first_output_at is None:
            self.first_output_at = time.monotonic()
        if self.buffered:
            self._buffer.append(delta)
        else:
            attempt.produced = True
            yield delta

    def _flush(self) -> Iterator[Delta]:
        buffer, self._buffer = self._buffer, []
        yield from buffer

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
        state = _pool_state()
        if not tried:
            quota_out = self._quota_exhausted(state)
            if quota_out is not None:
                return quota_out
        if state.soonest_recovery is not None:
            wait = max(1, int((state.soonest_recovery.timestamp() - time.time()) + 0.999))
            return Failed(429, f"Every account is cooling down; the first is back in {wait} s.",
                          type="rate_limit_error", code="all_accounts_cooling_down", retry_after=wait)
        if state.enabled == 0:
            return Failed(503, "No account is configured and enabled.", code="no_accounts")
        return Failed(503, "No account can serve right now (they need a new login or failed just now).",
                      code="no_available_accounts")

    def _quota_exhausted(self, state: account_pool.PoolState) -> Failed | None:
        """429 when the accounts that could serve have used up today's quota of this request's kinds."""
        rest = _quota_rest(kinds=self.plan.quota_kinds)
        if not rest.resting or rest.soonest_reset is None:
            return None
        back = min(filter(None, (rest.soonest_reset, state.soonest_recovery)))
        wait = max(1, int((back.timestamp() - time.time()) + 0.999))
        return Failed(429, f"Every account that could serve has used up its daily {'/'.join(self.plan.quota_kinds)} "
                           f"quota or is resting; the first is back in {wait} s.", type="rate_limit_error",
                      code="daily_quota_exhausted", retry_after=wait)

    def _all_resting(self) -> bool:
        state = _pool_state()
        return state.soonest_recovery is not None and state.cooling >= state.enabled

    def _log_attempt_failure(self, attempt: _Attempt, error: UpstreamError) -> None:
        logger.warning("chat attempt failed", extra={
            "request_id": self.plan.request_id, "account_id": attempt.account.pk, "error_kind": error.kind,
            "status": error.status, "produced": attempt.produced,
            "latency_ms": round((time.monotonic() - self.started) * 1000)})

    def _record_attempt(self, outcome: str, error_kind: str = "") -> None:
        attempt, self._current = self._current, None
        if attempt is not None:
            self._last_attempt = attempt
            self.attempt_records.append(AttemptRecord(
                account_id=attempt.account.pk, started_at=attempt.started_at, outcome=outcome,
                latency_ms=round((time.monotonic() - attempt.started) * 1000), error_kind=error_kind))

    def tokens_estimate(self) -> tuple[int, int, int]:
        """Estimated (prompt, completion, reasoning) tokens: the upstream reports no counts. Completion
        tokens include the reasoning ones, as OpenAI counts them."""
        reasoning = tokens_for_chars(self.usage_chars["reasoning"])
        prompt = estimate_tokens(self.plan.query) + ATTACHMENT_TOKENS * len(self.plan.stored_files)
        return prompt, tokens_for_chars(self.usage_chars["content"]) + reasoning, reasoning

    def _bookkeep(self) -> None:
        """The request-log row, its attempts and usage, and if the run finished, the answering account's
        success (written in batches: metering.record_writer), then the metrics."""
        answered = isinstance(self.outcome, Finished)
        if self._current is not None:  # the run ended inside an attempt: the client left, or we crashed
            closed = answered or (isinstance(self.outcome, Failed) and self.outcome.code == "client_closed")
            self._record_attempt(AttemptOutcome.OK if answered else
                                 AttemptOutcome.CLIENT_CLOSED if closed else AttemptOutcome.CRASHED)
        # The answer is complete by now: bookkeeping trouble (a locked or unreachable database) is
        # logged, never turned into an error at the end of an answer the client already has.
        try:
            record = self._request_record()
            request_finished(record, answered_by=self.account if answered else None)
            request_observe(record)
        except Exception:  # noqa: BLE001 - telemetry must never break a finished answer
            logger.exception("could not record the request", extra={
                "request_id": self.plan.request_id, "account_id": self.account.pk if self.account else None})

    def _count_limits(self) -> None:
        """After the answer: the key's estimated tokens and concurrency slot; the account's daily quotas."""
        try:
            if self.plan.admission is not None and self.plan.admission_ends_with_run:
                self.plan.admission.finish(tokens=self.tokens_to_charge())
            answering = self._last_attempt
            if isinstance(self.outcome, Finished) and answering is not None:
                _count_answer(account=answering.account, pool=self.plan.pool,
                              mime_types=[item.mime_type for item in answering.files])
        except Exception:  # noqa: BLE001 - counting must never break a finished answer
            logger.exception("could not count the request against its limits", extra={
                "request_id": self.plan.request_id, "account_id": self.account.pk if self.account else None})

    def _request_record(self) -> RequestRecord:
        outcome = self.outcome
        status = 200
        error_kind = ""
        if isinstance(outcome, Failed):
            error_kind = outcome.code or "error"
            status = 200 if (self._opened and not self.buffered) else outcome.status
        prompt_tokens, completion_tokens, _ = self.tokens_estimate()
        ttft = None if self.buffered or self.first_output_at is None else self.first_output_at - self.started
        api_key = self.plan.api_key
        return RequestRecord(
            endpoint=self.plan.endpoint, model=self.plan.model.id, stream=not self.buffered, status_code=status,
            latency_ms=round((time.monotonic() - self.started) * 1000), request_id=self.plan.request_id,
            account_id=self.account.pk if self.account else None, api_key_id=api_key.pk if api_key else None,
            key_name=api_key.name if api_key else "", error_kind=error_kind, tool_calls=self.tool_calls,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            attachments=len(self.plan.stored_files), ttft_ms=None if ttft is None else round(ttft * 1000),
            attempts=tuple(self.attempt_records), prompt_excerpt=self.plan.prompt_excerpt)


# ---- the run's database work before an upstream wait ------------------------------------------------
# Each gives this thread's connections back as it ends (releases_connections): a stream may wait on the
# upstream for minutes, and hundreds of them must not each hold a database connection meanwhile.


@releases_connections
def _lease(*, exclude: set[int], kinds: tuple[str, ...]) -> Account | None:
    return account_pool.lease_account(exclude=exclude, kinds=kinds)


@releases_connections
def _count_answer(*, account: Account, pool: PoolSettings, mime_types: list[str]) -> None:
    quotas.quota_count_answer(account=account, pool=pool, mime_types=mime_types)


@releases_connections
def _quota_rest(*, kinds: tuple[str, ...]) -> quotas.QuotaRest:
    return quotas.pool_quota_rest(kinds=kinds)


@releases_connections
def _report_failure(*, account: Account, error: UpstreamError, pool: PoolSettings) -> None:
    account_pool.report_failure(account=account, error=error, pool=pool)


@releases_connections
def _pool_state() -> account_pool.PoolState:
    return account_pool.pool_state()


@releases_connections
def _upstream_file_ids(*, client, creds: Credentials, account: Account, session: str,
                       stored_files: list[StoredFile]) -> list[str]:
    return [files.upstream_file_id_for(client=client, creds=creds, account=account, session=session,
                                       stored_file=stored) for stored in stored_files]


def _media_markdown(media, url: str) -> str:
    if media.mime_type.startswith("video/"):
        return f"[video]({url})"
    return f"![image]({url})"


def new_request_id() -> str:
    """A short id for logs and the completion id."""
    return secrets.token_hex(12)
