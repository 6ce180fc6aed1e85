"""Per-account figures agree everywhere: Accounts (/api/accounts), the Dashboard, the attempt rows and /metrics.

Failovers are driven through a real gateway with simulator faults aimed at one account, and each account's
requests, errors and latency are compared across every place that shows them, and with what the simulator
did (the seat that got two upstream 429s shows two errors).
"""
from __future__ import annotations

import openai
import pytest
import requests

from accounts.models import PoolSettings, RequestLog
from metering.models import AttemptOutcome, RequestAttempt
from tests.metering.scrape import per_label
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]


def _ask(client, text: str):
    return client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": text}])


def _metrics(gateway, admin_key) -> str:
    response = requests.get(gateway.url + "/metrics", headers={"Authorization": f"Bearer {admin_key[1]}"},
                            timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def _figures_from_metrics(text: str, before: str, ids: list[int]) -> dict[int, tuple[int, int, float]]:
    """(attempts, errors, mean ms) per account, from the counters' growth since `before`."""
    attempts, errors, seconds = (
        {k: per_label(text, name, "account").get(k, 0) - per_label(before, name, "account").get(k, 0)
         for k in map(str, ids)}
        for name in ("gempool_upstream_attempts_total", "gempool_upstream_errors_total",
                     "gempool_upstream_attempt_seconds_total"))
    return {pk: (int(attempts[str(pk)]), int(errors[str(pk)]),
                 seconds[str(pk)] * 1000 / attempts[str(pk)] if attempts[str(pk)] else 0.0) for pk in ids}


def test_failovers_are_counted_on_the_accounts_that_made_each_attempt_everywhere(
        gateway, openai_client, pool_account, sim, staff_client, admin_key):
    limited, steady = pool_account(label="limited"), pool_account(label="steady")
    ids = [limited.pk, steady.pk]
    before = _metrics(gateway, admin_key)
    PoolSettings.objects.update_or_create(pk=1, defaults={"cooldown_base_seconds": 0})  # a 429 rests it 0 s
    sim.add_fault("429_before", csesidx=limited.csesidx, count=2)  # exactly two upstream 429s for this seat
    for _ in range(6):
        assert _ask(openai_client, "count me").choices[0].message.content.endswith("You said: count me")
    # Then both seats answer 429 and rest for a minute: the request that found them both resting is a 429
    # of the gateway's own, counted on no seat; the seats' own 429s stay theirs.
    PoolSettings.objects.filter(pk=1).update(cooldown_base_seconds=60)
    sim.add_fault("429_before", count=None)
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            _ask(openai_client, "nobody home")
        assert caught.value.body["code"] == "all_accounts_cooling_down"
    assert wait_until(lambda: RequestLog.objects.count() == 8, 10) is not None

    attempts = RequestAttempt.objects.filter(account_id__in=ids)
    rows = {pk: (attempts.filter(account_id=pk).count(),
                 attempts.filter(account_id=pk, outcome=AttemptOutcome.ERROR).count()) for pk in ids}
    assert rows[limited.pk][1] == 2 + 1  # its two scripted 429s, and one more once every seat answered 429
    assert sum(n for n, _ in rows.values()) - sum(e for _, e in rows.values()) == 6  # six answers
    assert not RequestLog.objects.filter(error_kind="all_accounts_cooling_down").exclude(account=None).exists()
    assert RequestLog.objects.filter(attempts=0).count() == 1  # the second 429 found every seat resting

    accounts_page = {a["id"]: a["last_24h"] for a in staff_client.get("/api/accounts").json()}
    dashboard = {s["account_id"]: s for s in staff_client.get("/api/dashboard").json()["series"]}
    scraped = _figures_from_metrics(_metrics(gateway, admin_key), before, ids)
    for pk in ids:
        requests_, errors = rows[pk]
        mean = sum(attempts.filter(account_id=pk).values_list("latency_ms", flat=True)) / requests_
        assert (accounts_page[pk]["requests"], accounts_page[pk]["errors"]) == (requests_, errors)
        assert (sum(dashboard[pk]["requests"]), sum(dashboard[pk]["errors"])) == (requests_, errors)
        assert accounts_page[pk]["latency_ms_avg"] == dashboard[pk]["latency_ms_avg"] == round(mean)
        assert scraped[pk][:2] == (requests_, errors)
        assert scraped[pk][2] == pytest.approx(mean, abs=0.01)
