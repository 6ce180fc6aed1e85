"""The gateway's Prometheus metrics: defined once here, observed from the request path and bookkeeping.

Recording a sample is a dictionary lookup and an addition (a memory-mapped file write in multi-process
mode). Figures that live in the database (accounts by state, login refresh jobs) are read at scrape time by
metering.collectors, never per request.
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latencies of LLM answers run from tens of milliseconds (an error) to minutes (a long stream).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "gempool_http_requests", "HTTP requests answered, by route pattern, method and status.",
    ["route", "method", "status"])
HTTP_IN_PROGRESS = Gauge(
    "gempool_http_requests_in_progress", "HTTP requests being handled now (streams until their view returns).",
    multiprocess_mode="livesum")
COMPLETIONS = Counter(
    "gempool_completions", "Completions run over the pool, by API face, model, key name, HTTP status and error "
    "code (empty when it succeeded; a stream that broke after its first byte keeps status 200).",
    ["endpoint", "model", "key", "status", "error"])
COMPLETION_SECONDS = Histogram(
    "gempool_completion_duration_seconds", "Completion latency, from planning to the end of the answer.",
    ["endpoint", "model"], buckets=LATENCY_BUCKETS)
COMPLETION_TTFT_SECONDS = Histogram(
    "gempool_completion_ttft_seconds", "Time to the first token of streamed completions.",
    ["endpoint", "model"], buckets=TTFT_BUCKETS)
COMPLETION_TOKENS = Counter(
    "gempool_completion_tokens", "Estimated tokens, by kind (prompt, completion), model and key name.",
    ["kind", "model", "key"])
UPSTREAM_ATTEMPTS = Counter(
    "gempool_upstream_attempts", "Upstream attempts, by account id and outcome (ok, error, client_closed, crashed).",
    ["account", "outcome"])
UPSTREAM_ERRORS = Counter(
    "gempool_upstream_errors", "Upstream attempts that failed, by account id and error kind.",
    ["account", "kind"])
UPSTREAM_ATTEMPT_TIME = Counter(
    "gempool_upstream_attempt_seconds",
    "Time spent in upstream attempts, per account id (divided by its attempts: the mean).", ["account"])
UPSTREAM_ATTEMPT_SECONDS = Histogram(
    "gempool_upstream_attempt_duration_seconds", "Upstream attempt latency over all accounts.",
    buckets=LATENCY_BUCKETS)
RATE_LIMIT_REJECTIONS = Counter(
    "gempool_rate_limit_rejections", "Requests refused by a limit before reaching the pool, by limit and key name.",
    ["limit", "key"])


def rate_limit_rejected(*, limit: str, key: str) -> None:
    """A request refused by a limit (`limit`: which one, e.g. requests_per_minute) for the key named `key`."""
    RATE_LIMIT_REJECTIONS.labels(limit=limit, key=key).inc()
