"""Query parameters of /api/usage, /api/dashboard/series and /api/requests."""
from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers

from metering import request_log
from metering.series import GROUPS as SERIES_GROUPS
from metering.series import RANGES, SeriesQuery
from metering.usage import GROUPS, MAX_DAYS, UsageQuery

DEFAULT_DAYS = 30


class UsageQuerySerializer(serializers.Serializer):
    to = serializers.DateField(required=False, help_text="Last day (UTC, inclusive); default: today.")
    key = serializers.IntegerField(required=False, min_value=0, help_text="An API key id (0: requests without one).")
    model = serializers.CharField(required=False, max_length=100, help_text="A model id.")
    group_by = serializers.CharField(required=False, default="day",
                                     help_text="Comma list of day, key, model (default: day).")

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # "from" is a Python keyword, so it cannot be declared as a class attribute.
        fields["from"] = serializers.DateField(required=False, help_text="First day (UTC); default: 29 days "
                                               "before `to`.")
        return fields

    def validate_group_by(self, value: str) -> tuple[str, ...]:
        groups = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise serializers.ValidationError(f"Unknown group {', '.join(unknown)}; use any of {', '.join(GROUPS)}.")
        return groups

    def validate(self, attrs: dict) -> dict:
        end = attrs.get("to") or timezone.now().astimezone(UTC).date()
        start = attrs.get("from") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise serializers.ValidationError({"from": "The range starts after it ends."})
        if (end - start).days + 1 > MAX_DAYS:
            raise serializers.ValidationError({"from": f"The range may span at most {MAX_DAYS} days."})
        attrs["from"], attrs["to"] = start, end
        return attrs

    def query(self) -> UsageQuery:
        data = self.validated_data
        return UsageQuery(start=data["from"], end=data["to"], key_id=data.get("key"), model=data.get("model") or None,
                          group_by=data["group_by"])



# ---- /api/requests ------------------------------------------------------------------------------

RELATIVE_TIME = re.compile(r"^(\d{1,5})([mhdw])$")
RELATIVE_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# What clients see before a request id: a chat completion's id, a stored response's id.
CLIENT_ID_PREFIXES = ("chatcmpl-", "resp_")
REQUEST_ID = re.compile(r"^[0-9a-f]{1,40}$")
DATABASE_ID_MAX = 2**63 - 1


class RequestLogQuerySerializer(serializers.Serializer):
    to = serializers.CharField(required=False, help_text="Newest time: ISO 8601 (a date: the end of that day, "
                               "UTC) or an age such as 1h; default: now.")
    key = serializers.IntegerField(required=False, min_value=0, max_value=DATABASE_ID_MAX,
                                   help_text="An API key id (0: requests without one).")
    model = serializers.CharField(required=False, max_length=100, help_text="A model id.")
    account = serializers.IntegerField(required=False, min_value=1, max_value=DATABASE_ID_MAX,
                                       help_text="An account id: requests any of whose attempts it made.")
    status = serializers.CharField(required=False, max_length=5,
                                   help_text="An HTTP status (502) or a class: 2xx, 4xx, 5xx, error, ok.")
    error_kind = serializers.CharField(required=False, max_length=40, help_text="An error kind (upstream_error...).")
    endpoint = serializers.CharField(required=False, max_length=40, help_text="chat, responses, messages, images.")
    q = serializers.CharField(required=False, max_length=60, help_text="A request id or its beginning.")
    cursor = serializers.CharField(required=False, max_length=40, help_text="The `next` of the previous page.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=request_log.MAX_LIMIT,
                                     default=request_log.DEFAULT_LIMIT, help_text="Rows per page.")

    def get_fields(self) -> dict:
        fields = super().get_fields()
        fields["from"] = serializers.CharField(required=False, help_text="Oldest time: ISO 8601 or an age such as "
                                               "1h, 24h, 7d (m, h, d, w); default: the whole log.")
        return fields

    def validate_from(self, value: str) -> datetime:
        return _moment(value, end_of_day=False)

    def validate_to(self, value: str) -> datetime:
        return _moment(value, end_of_day=True)

    def validate_status(self, value: str) -> tuple[int | None, str | None]:
        value = value.strip().lower()
        if re.fullmatch(r"[1-5]\d\d", value):
            return int(value), None
        if value in request_log.STATUS_CLASSES:
            return None, value
        raise serializers.ValidationError(f"Use an HTTP status such as 502, or one of "
                                          f"{', '.join(request_log.STATUS_CLASSES)}.")

    def validate_q(self, value: str) -> str:
        value = value.strip().lower()
        for prefix in CLIENT_ID_PREFIXES:
            value = value.removeprefix(prefix)
        if not REQUEST_ID.match(value):
            raise serializers.ValidationError("Search by a request id or its beginning: hex digits, with or without "
                                              "the chatcmpl- or resp_ prefix clients see.")
        return value

    def validate_cursor(self, value: str) -> request_log.Cursor:
        try:
            return request_log.Cursor.parse(value)
        except ValueError:
            raise serializers.ValidationError("Not a cursor: pass the previous page's `next` as it came.") from None

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"from": "The range starts after it ends."})
        return attrs

    def query(self) -> request_log.RequestLogQuery:
        data = self.validated_data
        status_code, status_class = data.get("status") or (None, None)
        return request_log.RequestLogQuery(
            start=data.get("from"), end=data.get("to"), key_id=data.get("key"), model=data.get("model") or None,
            account_id=data.get("account"), status_code=status_code, status_class=status_class,
            error_kind=data.get("error_kind") or None, endpoint=data.get("endpoint") or None,
            request_id=data.get("q") or None, cursor=data.get("cursor"), limit=data["limit"])


def _moment(value: str, *, end_of_day: bool) -> datetime:
    """An ISO 8601 time or date (naive: UTC), or an age before now such as 24h."""
    value = value.strip()
    relative = RELATIVE_TIME.match(value)
    if relative:
        return timezone.now() - int(relative[1]) * RELATIVE_UNITS[relative[2]]
    try:
        day = parse_date(value)  # before parse_datetime, which reads a bare date as its midnight
        moment = parse_datetime(value) if day is None else None
    except ValueError:
        day = moment = None
    if day is not None:
        moment = datetime.combine(day, time.min) + (timedelta(days=1, microseconds=-1) if end_of_day else timedelta())
    try:
        moment = moment and (moment.astimezone(UTC) if timezone.is_aware(moment) else moment.replace(tzinfo=UTC))
    except OverflowError:  # a time zone offset past the year 1 or 9999
        moment = None
    if moment is None:
        raise serializers.ValidationError("Use an ISO 8601 time (2026-12-05T10:00:00Z), a date, or an age such as "
                                          "1h, 24h, 7d.")
    return moment


class SeriesQuerySerializer(serializers.Serializer):
    """Query parameters of /api/dashboard/series."""

    range = serializers.ChoiceField(
        choices=list(RANGES), required=False, default="24h", help_text="1h, 6h, 24h (default), 7d or 30d.",
        error_messages={"invalid_choice": f"Unknown range \"{{input}}\"; use one of {', '.join(RANGES)}."})
    model = serializers.CharField(required=False, max_length=100, help_text="A model id.")
    key = serializers.IntegerField(
        required=False, min_value=0, help_text="An API key id (0: requests without a key).",
        error_messages={"invalid": "An API key id is a whole number (0: requests without a key).",
                        "min_value": "An API key id is a whole number (0: requests without a key)."})
    group = serializers.ChoiceField(
        choices=list(SERIES_GROUPS), required=False, default="none",
        help_text="Series per model, per key, or none (one series for all requests).",
        error_messages={"invalid_choice": f"Unknown group \"{{input}}\"; use one of {', '.join(SERIES_GROUPS)}."})

    def query(self) -> SeriesQuery:
        data = self.validated_data
        return SeriesQuery(range=data["range"], model=data.get("model") or None, key_id=data.get("key"),
                           group=data["group"])
