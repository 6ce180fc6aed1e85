"""Query parameters of /api/usage and /api/dashboard/series."""
from __future__ import annotations

from datetime import UTC, timedelta

from django.utils import timezone
from rest_framework import serializers

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
