"""The searchable request log: /v1 requests newest first, filtered, a page at a time, each with its attempts.

Pages are cut by keyset on (created_at, id), never by OFFSET: the next page starts strictly after the last
row shown, so it costs the same on page 500 as on page 1 and rows written meanwhile neither repeat nor go
missing. A page is two queries whatever its size: the rows (with their key and final account), then every
attempt of those rows (with the attempt's account and login address).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, Q, QuerySet

from accounts.dashboard import FAILED
from accounts.models import Account, RequestLog
from metering.models import RequestAttempt

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
STATUS_CLASSES = ("2xx", "4xx", "5xx", "error", "ok")
# Request ids are hex (openai_api.chat.new_request_id); a prefix is searched as a range on the index.
REQUEST_ID_ALPHABET = "0123456789abcdef"


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the next page holds the rows strictly older than this (created_at, id).

    Clients see it as an opaque token, "<microseconds since the epoch>_<id>".
    """

    created_at: datetime
    id: int

    @property
    def token(self) -> str:
        delta = self.created_at - EPOCH
        return f"{(delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds}_{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """The cursor a token names; ValueError when it is not one this module made."""
        micros, sep, pk = token.partition("_")
        if not sep or not micros.isdigit() or not pk.isdigit() or len(micros) > 18 or len(pk) > 18:
            raise ValueError(token)
        try:
            return cls(created_at=EPOCH + timedelta(microseconds=int(micros)), id=int(pk))
        except OverflowError:  # past the year 9999
            raise ValueError(token) from None


@dataclass(frozen=True)
class RequestLogQuery:
    start: datetime | None = None
    end: datetime | None = None
    key_id: int | None = None  # 0: requests made without a key
    model: str | None = None
    account_id: int | None = None  # any attempt's account, not only the one that answered
    status_code: int | None = None
    status_class: str | None = None  # one of STATUS_CLASSES
    error_kind: str | None = None
    endpoint: str | None = None
    request_id: str | None = None  # a request id or its beginning (lower-case hex)
    cursor: Cursor | None = None
    limit: int = DEFAULT_LIMIT


def request_log_page(*, query: RequestLogQuery) -> dict:
    """One page of the log, newest first: its rows, and the next page's cursor token (None: this is the last)."""
    rows = list(_with_details(_filtered(query)).order_by("-created_at", "-id")[:query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    last = rows[-1] if more else None
    return {"results": [request_entry(row) for row in rows], "more": more,
            "next": Cursor(created_at=last.created_at, id=last.pk).token if last else None}


def request_log_get(*, pk: int) -> dict | None:
    """One request with its attempts, or None."""
    row = _with_details(RequestLog.objects.filter(pk=pk)).first()
    return None if row is None else request_entry(row)


def _with_details(rows: QuerySet) -> QuerySet:
    attempts = RequestAttempt.objects.select_related("account__login_profile").order_by("started_at", "id")
    return (rows.select_related("api_key", "account__login_profile")
            .prefetch_related(Prefetch("upstream_attempts", attempts))
            .annotate(failed=ExpressionWrapper(FAILED, output_field=BooleanField())))


def _filtered(query: RequestLogQuery) -> QuerySet:
    rows = RequestLog.objects.all()
    if query.start is not None:
        rows = rows.filter(created_at__gte=query.start)
    if query.end is not None:
        rows = rows.filter(created_at__lte=query.end)
    if query.key_id is not None:
        rows = rows.filter(api_key__isnull=True) if query.key_id == 0 else rows.filter(api_key_id=query.key_id)
    if query.model:
        rows = rows.filter(model=query.model)
    if query.endpoint:
        rows = rows.filter(endpoint=query.endpoint)
    if query.error_kind:
        rows = rows.filter(error_kind=query.error_kind)
    if query.account_id is not None:
        # IN, not a correlated EXISTS: SQLite would answer EXISTS per row from the account's index, reading
        # every attempt the account ever made for each request it looks at.
        tried = RequestAttempt.objects.filter(account_id=query.account_id).values("request_id")
        rows = rows.filter(Q(account_id=query.account_id) | Q(pk__in=tried))
    if query.request_id:
        rows = rows.filter(_request_id_prefix(query.request_id))
    if query.cursor is not None:
        at = query.cursor.created_at
        # The plain `<=` lets the database start its index range at the cursor rather than at the newest row.
        rows = rows.filter(Q(created_at__lte=at), Q(created_at__lt=at) | Q(created_at=at, id__lt=query.cursor.id))
    return _by_status(rows, query)


def _by_status(rows: QuerySet, query: RequestLogQuery) -> QuerySet:
    if query.status_code is not None:
        return rows.filter(status_code=query.status_code)
    match query.status_class:
        case "error":  # failed, including streams that broke after their 200 (they keep an error kind)
            return rows.filter(FAILED)
        case "ok":
            return rows.exclude(FAILED)
        case "2xx" | "4xx" | "5xx":
            low = int(query.status_class[0]) * 100
            return rows.filter(status_code__gte=low, status_code__lt=low + 100)
    return rows


def _request_id_prefix(prefix: str) -> Q:
    """Ids starting with `prefix`, as a range both SQLite and PostgreSQL answer from the request-id index
    (LIKE 'abc%' uses an index on neither by default). The bound is the prefix with its last character moved
    one up the hex alphabet ("f" -> "g" still sorts after every hex digit, in any collation)."""
    following = REQUEST_ID_ALPHABET + "g"
    upper = prefix[:-1] + following[following.index(prefix[-1]) + 1]
    return Q(request_id__gte=prefix, request_id__lt=upper)


def request_entry(row: RequestLog) -> dict:
    """A request-log row as the API shows it (from _with_details: attempts prefetched, `failed` annotated)."""
    return {
        "id": row.pk, "created_at": row.created_at, "request_id": row.request_id, "endpoint": row.endpoint,
        "model": row.model, "stream": row.stream, "status_code": row.status_code, "error_kind": row.error_kind,
        "failed": row.failed,
        "latency_ms": row.latency_ms, "ttft_ms": row.ttft_ms,
        "tokens": {"prompt": row.prompt_tokens, "completion": row.completion_tokens},
        "tool_calls": row.tool_calls, "attachments": row.attachments,
        "key": {"id": row.api_key.pk, "name": row.api_key.name} if row.api_key else None,
        "account": _account(row.account),
        "attempts": [{"account": _account(attempt.account), "started_at": attempt.started_at,
                      "latency_ms": attempt.latency_ms, "outcome": attempt.outcome,
                      "error_kind": attempt.error_kind} for attempt in row.upstream_attempts.all()],
        "prompt": row.prompt_excerpt,
    }


def _account(account: Account | None) -> dict | None:
    """An account as the log names it (None: no account, or deleted since)."""
    if account is None:
        return None
    profile = getattr(account, "login_profile", None)
    return {"id": account.pk, "label": account.display_name, "email": profile.email if profile else ""}
