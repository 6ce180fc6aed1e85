"""Figures read from the database when Prometheus scrapes, never on the request path."""
from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accounts.lifecycle import effective_status
from accounts.models import Account
from accounts.pool import pool_counts
from logins.models import JobOutcome, RefreshJob

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


class RefreshJobsCollector(Collector):
    """`gempool_refresh_jobs{outcome}`: the re-login worker's attempts kept (GEMPOOL_REFRESH_JOB_RETENTION_DAYS).

    Read from the database because the worker is a process of its own (`manage.py refreshworker`), whose
    samples no gateway could export; a gauge, since housekeeping removes old attempts.
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("gempool_refresh_jobs", "Login refresh attempts on record (within their retention), "
                                 "by outcome (running, succeeded, failed, hard_stop).", labels=["outcome"])
        counts = dict(RefreshJob.objects.values_list("outcome").annotate(n=Count("id")).order_by())
        for outcome in JobOutcome.values:
            jobs.add_metric([outcome], counts.get(outcome, 0))
        yield jobs
