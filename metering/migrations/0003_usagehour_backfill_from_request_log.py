"""Fill the new hourly rollup from the request log (kept 7 days by default), so the dashboard's 24 h and 7 d
ranges show the traffic from before the upgrade. One grouped query: the database counts the buckets."""
from datetime import UTC

from django.db import migrations
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour

# metering.histogram.BOUNDS_MS as of 0002 (one column per bucket), frozen here as migrations must be.
BOUNDS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000, 20_000, 30_000,
             45_000, 60_000, 90_000, 120_000)


def _bucket_counts(column: str, prefix: str) -> dict:
    counts = {}
    for index in range(len(BOUNDS_MS) + 1):
        inside = Q(**{f"{column}__isnull": False})
        if index < len(BOUNDS_MS):
            inside &= Q(**{f"{column}__lte": BOUNDS_MS[index]})
        if index:
            inside &= Q(**{f"{column}__gt": BOUNDS_MS[index - 1]})
        counts[f"{prefix}_b{index:02d}"] = Count("id", filter=inside)
    return counts


def backfill(apps, schema_editor):
    RequestLog = apps.get_model("accounts", "RequestLog")
    UsageHour = apps.get_model("metering", "UsageHour")
    if UsageHour.objects.exists():
        return
    failed = Q(status_code__gte=400) | ~Q(error_kind="")
    groups = (RequestLog.objects.annotate(at=TruncHour("created_at", tzinfo=UTC))
              .values("at", "api_key_id", "model")
              .annotate(requests=Count("id"), errors=Count("id", filter=failed), latency_ms_total=Sum("latency_ms"),
                        **_bucket_counts("latency_ms", "latency"), **_bucket_counts("ttft_ms", "ttft"))
              .order_by())
    rows = []
    for group in groups:
        at, key, model = group.pop("at"), group.pop("api_key_id"), group.pop("model")
        group["latency_ms_total"] = group["latency_ms_total"] or 0
        rows.append(UsageHour(hour=at, api_key_id=key or 0, model=model[:100], **group))
    UsageHour.objects.bulk_create(rows, batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0010_requestlog_usage"),
        ("metering", "0002_usagehour_rollup"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
