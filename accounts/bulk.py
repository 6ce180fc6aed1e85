"""POST /api/accounts/bulk: one action over many accounts, with a result per id.

Each action is the single-account service applied to every id found (state through accounts.lifecycle);
an id that names no account is reported in its result, never fatal to the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from accounts import services
from accounts.lifecycle import effective_status
from accounts.models import Account

BULK_MAX_IDS = 500
# A test calls upstream per account: a bounded batch keeps the request to seconds (see TEST_CONCURRENCY).
BULK_TEST_MAX_IDS = 50
BULK_ACTIONS = ("enable", "disable", "test", "clear_cooldown", "delete")
# The Django permission each action needs, as the single-account routes ask for it.
BULK_PERMISSIONS = {"enable": "accounts.change_account", "disable": "accounts.change_account",
                    "test": "accounts.change_account", "clear_cooldown": "accounts.change_account",
                    "delete": "accounts.delete_account"}
NOT_FOUND = {"code": "not_found", "message": "No account with this id."}


@dataclass
class BulkOutcome:
    action: str
    results: list[dict] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return sum(1 for result in self.results if result["ok"])

    def as_dict(self) -> dict:
        return {"action": self.action, "requested": len(self.results), "succeeded": self.succeeded,
                "failed": len(self.results) - self.succeeded, "results": self.results}


def accounts_bulk(*, action: str, ids: list[int]) -> BulkOutcome:
    """Apply `action` to the accounts with these ids (distinct, in the given order)."""
    if action == "delete":
        found = set(services.account_delete_many(account_ids=ids))
        return BulkOutcome(action, [{"id": pk, "ok": True, "status": "deleted"} if pk in found else _missing(pk)
                                    for pk in ids])
    accounts = {account.pk: account for account in Account.objects.filter(pk__in=ids)}
    found_in_order = [accounts[pk] for pk in ids if pk in accounts]
    extras: dict[int, dict] = {}
    if action in ("enable", "disable"):
        services.account_set_enabled(accounts=found_in_order, enabled=action == "enable")
    elif action == "clear_cooldown":
        services.account_clear_cooldown(accounts=found_in_order)
    elif action == "test":
        tests = services.account_test_many(accounts=found_in_order)
        extras = {pk: {"ok": result.ok, "latency_ms": result.latency_ms, "error": result.error}
                  for pk, result in tests.items()}
    fresh = {account.pk: account for account in Account.objects.filter(pk__in=list(accounts))}
    return BulkOutcome(action, [_found_result(pk, fresh.get(pk), extras.get(pk, {})) for pk in ids])


def _found_result(pk: int, account: Account | None, extra: dict) -> dict:
    if account is None:
        return _missing(pk)
    return {"id": pk, "ok": True, "status": effective_status(account), **extra}


def _missing(pk: int) -> dict:
    return {"id": pk, "ok": False, "error": NOT_FOUND}
