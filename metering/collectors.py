"""Figures read from the database when Prometheus scrapes, never on the request path."""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.lifecycle import effective_status
from accounts.models import Account
from accounts.pool import pool_counts

NOT_A_STATE = ("total", "available")


class AccountsCollector(Collector):
    """`gempool_accounts{state}` (the console's counts) and `gempool_account_info{account,name,state}`.

    Every gateway instance reports the same pool, so dashboards take max(), not sum(), across instances.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily("gempool_accounts", "Accounts in the pool, by state.", labels=["state"])
        for state, count in pool_counts().items():
            if state not in NOT_A_STATE:
                states.add_metric([state], count)
        yield states
        info = GaugeMetricFamily("gempool_account_info", "One series per account: its id, name and state "
                                 "(join upstream attempt metrics on `account` to show names).",
                                 labels=["account", "name", "state"])
        for account in Account.objects.order_by("id"):
            info.add_metric([str(account.pk), account.display_name, effective_status(account)], 1)
        yield info
