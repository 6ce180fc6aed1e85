"""A run driven by the request thread: bookkeeping after the answer is out, early closes, SSE batching."""
from __future__ import annotations

import pytest

from accounts.models import Account, AccountStatus, RequestLog
from openai_api import responses
from openai_api.chat import ChatRun
from openai_api.run_events import Delta, Failed, Idle, Opened
from tests.openai_api.test_query_counts import _plan

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue", "upstream_settings")]


def _ids():
    return {"completion_id": "chatcmpl-test", "created": 1}


def test_a_completion_is_recorded_only_once_its_response_has_been_sent(api_key, pool_account):
    account = pool_account()
    response = responses.complete(_plan(api_key[0], "hello"), **_ids())
    assert response.data["choices"][0]["message"]["content"].endswith("You said: hello")
    assert not RequestLog.objects.exists()  # the client gets its answer before the bookkeeping is written
    assert Account.objects.get(pk=account.pk).success_count == 0
    response.close()  # what the WSGI server calls after the last byte
    log = RequestLog.objects.get()
    assert (log.status_code, log.account_id, log.stream) == (200, account.pk, False)
    assert Account.objects.get(pk=account.pk).success_count == 1


def test_a_failed_completion_is_recorded_before_the_error_is_raised(api_key, pool_account):
    pool_account(enabled=False, status=AccountStatus.DISABLED)
    with pytest.raises(responses.RunFailed):
        responses.complete(_plan(api_key[0]), **_ids())
    assert RequestLog.objects.get().status_code == 503


def test_closing_a_stream_early_records_the_client_and_blames_no_account(api_key, pool_account):
    account = pool_account()
    plan = _plan(api_key[0], "[[sim:fragments=20]] [[sim:delay=0.01]] a long one")
    run = ChatRun(plan, buffered=False)
    events = run.events()
    assert isinstance(next(events), Opened)
    assert any(isinstance(next(events), Delta) for _ in range(3))
    events.close()  # the client hung up
    log = RequestLog.objects.get()
    assert log.error_kind == "client_closed" and log.stream
    account.refresh_from_db()
    assert (account.status, account.failure_count, account.success_count) == (AccountStatus.ACTIVE, 0, 0)


def test_a_long_upstream_silence_yields_idles_between_deltas(api_key, pool_account, settings):
    settings.GEMPOOL_KEEPALIVE_SECONDS = 0.1
    pool_account()
    run = ChatRun(_plan(api_key[0], "[[sim:fault=hang_mid_stream=0.45]] slow"), buffered=False)
    kinds = [type(event).__name__ for event in run.events()]
    assert kinds[0] == "Opened" and kinds[-1] == "Finished"
    first_idle = kinds.index("Idle")
    assert "Delta" in kinds[:first_idle] and "Delta" in kinds[first_idle:]
    assert kinds.count("Idle") >= 3


def test_buffered_runs_never_yield_idles(api_key, pool_account, settings):
    settings.GEMPOOL_KEEPALIVE_SECONDS = 0.1
    pool_account()
    events = list(ChatRun(_plan(api_key[0], "[[sim:fault=hang_mid_stream=0.3]] slow"), buffered=True).events())
    assert not any(isinstance(event, Idle | Failed) for event in events)


def test_deltas_that_arrive_together_go_out_in_one_write(api_key, pool_account, sim):
    pool_account()
    # No delay between fragments: the simulator's elements arrive faster than they are relayed.
    response = responses.stream(_plan(api_key[0], "[[sim:fragments=30]] [[sim:delay=0]] burst"), **_ids())
    writes = list(response.streaming_content)
    response.close()
    content_chunks = sum(write.count(b'"content":"') for write in writes)
    assert content_chunks >= 30 and writes[-1].endswith(b"data: [DONE]\n\n")
    assert len(writes) < content_chunks  # some writes carried several deltas


def test_a_stream_is_recorded_after_done_and_before_its_body_ends(api_key, pool_account):
    account = pool_account()
    response = responses.stream(_plan(api_key[0], "stream it"), **_ids())
    chunks = iter(response.streaming_content)
    body = b""
    while not body.endswith(b"data: [DONE]\n\n"):
        body += next(chunks)
    assert not RequestLog.objects.exists()  # [DONE] went out before any bookkeeping
    assert list(chunks) == []  # the body ends (the server then writes its terminating chunk) ...
    assert RequestLog.objects.get().stream  # ... once the success and the log row are written
    assert Account.objects.get(pk=account.pk).success_count == 1
    response.close()
