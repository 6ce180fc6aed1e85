"""GET /api/accounts at scale: the orderings, status filter and search a list of hundreds of seats needs.

Every ordering and filter is a database expression, so a page costs the same few queries whatever the pool's
size; the whitelist here is the one list of what may be sorted on (the view refuses anything else).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from accounts.lifecycle import status_filters
from accounts.models import Account, AccountStatus
from metering.figures import ERROR, window_start
from metering.models import RequestAttempt

SEARCH_MAX_CHARS = 200
# Rank of each effective status when sorting by status: usable first, then the ones that need a person.
STATUS_RANK = {AccountStatus.ACTIVE.value: 0, AccountStatus.COOLING_DOWN.value: 1, AccountStatus.NEEDS_LOGIN.value: 2,
               AccountStatus.NEEDS_ATTENTION.value: 3, AccountStatus.DISABLED.value: 4}


@dataclass(frozen=True)
class AccountListQuery:
    """What the caller asked for, already validated (accounts.serializers.AccountListQuerySerializer)."""

    ordering: str = "id"
    statuses: tuple[str, ...] = ()
    search: str = ""


def _attempts_24h(*, errors_only: bool, since: datetime) -> Coalesce:
    """The account's upstream attempts since `since`, as the list's "Requests (24 h)" / "Errors (24 h)" show."""
    rows = RequestAttempt.objects.filter(account_id=OuterRef("pk"), started_at__gte=since)
    if errors_only:
        rows = rows.filter(ERROR)
    counted = rows.order_by().values("account_id").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _status_rank(now: datetime) -> Case:
    filters = status_filters(now)
    # Same precedence as lifecycle.effective_status: disabled beats everything, then a login problem.
    order = (AccountStatus.DISABLED, AccountStatus.NEEDS_LOGIN, AccountStatus.NEEDS_ATTENTION,
             AccountStatus.COOLING_DOWN)
    return Case(*(When(filters[status.value], then=Value(STATUS_RANK[status.value])) for status in order),
                default=Value(STATUS_RANK[AccountStatus.ACTIVE.value]), output_field=IntegerField())


# ordering key -> (annotation factory or None, the field to sort on). Ties always break on id.
ORDERINGS = {
    "id": (None, "id"),
    "label": (lambda now: Lower("label"), "_sort"),
    "email": (lambda now: Lower("login_profile__email"), "_sort"),
    "team_id": (None, "team_id"),
    "status": (_status_rank, "_sort"),
    "last_used": (None, "last_used_at"),
    "requests": (lambda now: _attempts_24h(errors_only=False, since=window_start(now)), "_sort"),
    "errors": (lambda now: _attempts_24h(errors_only=True, since=window_start(now)), "_sort"),
    "cooldown": (None, "cooldown_until"),
    "created": (None, "created_at"),
}
ORDERING_CHOICES = tuple(sorted(ORDERINGS) + sorted(f"-{key}" for key in ORDERINGS))
STATUS_CHOICES = tuple(STATUS_RANK)


def _status_q(status: str, now: datetime) -> Q:
    filters = status_filters(now)
    if status == AccountStatus.ACTIVE.value:  # every account no other status claims
        others = Q()
        for q in filters.values():
            others |= q
        return ~others
    return filters[status]


def _search_q(text: str) -> Q:
    q = Q()
    for field in ("label", "team_id", "csesidx", "login_profile__email"):
        q |= Q(**{f"{field}__icontains": text})
    return q


def account_list_queryset(query: AccountListQuery, *, now: datetime | None = None) -> QuerySet[Account]:
    """The accounts matching `query`, in its order (nulls last either way, ties by id)."""
    now = now or timezone.now()
    accounts = Account.objects.all()
    if query.statuses:
        matched = Q()
        for status in query.statuses:
            matched |= _status_q(status, now)
        accounts = accounts.filter(matched)
    if query.search:
        accounts = accounts.filter(_search_q(query.search))
    descending = query.ordering.startswith("-")
    annotate, field = ORDERINGS[query.ordering.lstrip("-")]
    if annotate is not None:
        accounts = accounts.annotate(_sort=annotate(now))
    key = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return accounts.order_by(key, "-id" if descending else "id")
