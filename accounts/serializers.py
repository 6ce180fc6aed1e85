"""Request and response shapes of the management API (/api). Secrets are write-only: shown masked."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from accounts.bulk import BULK_ACTIONS, BULK_MAX_IDS, BULK_TEST_MAX_IDS
from accounts.lifecycle import QUOTA_KINDS, effective_status
from accounts.listing import ORDERING_CHOICES, SEARCH_MAX_CHARS, STATUS_CHOICES, AccountListQuery
from accounts.models import Account, AccountStatus, ApiKey, PoolSettings
from accounts.proxies import validate_proxy_url
from accounts.quotas import quota_limit, quota_usage_today
from accounts.services import proxy_mask
from gempool_site.crypto import mask
from gempool_site.quota_day import quota_day
from metering.figures import AccountFigures, account_figures


def _future(moment, now):
    return moment if moment is not None and moment > now else None


MASK_MARK = "••••"  # a value holding this is a masked display sent back, never a new secret
ACCOUNT_PAGE_SIZE_MAX = 200
QUOTA_FIELD = {"min_value": 0, "max_value": 1_000_000, "required": False}


class SecretField(serializers.CharField):
    """Write-only secret. Sending back the masked display (or omitting the field) keeps the stored value."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("trim_whitespace", True)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if isinstance(data, str) and MASK_MARK in data:
            if getattr(self.parent, "instance", None) is None:
                raise serializers.ValidationError("Send the secret itself, not its masked display.")
            raise serializers.SkipField()
        return super().validate_empty_values(data)


class AccountSerializer(serializers.ModelSerializer):
    secure_c_ses = SecretField(max_length=8192)
    host_c_oses = SecretField(max_length=8192, required=False, allow_blank=True)
    proxy_url = SecretField(max_length=500, required=False, allow_blank=True, validators=[validate_proxy_url])
    display_name = serializers.CharField(read_only=True)
    status = serializers.SerializerMethodField()
    status_display = serializers.SerializerMethodField()
    cooldown_remaining = serializers.SerializerMethodField()
    last_error = serializers.SerializerMethodField()
    last_24h = serializers.SerializerMethodField(
        help_text="Upstream attempts this account made in the last 24 hours (as on the dashboard): requests, "
                  "errors, mean latency in ms.")
    daily_text_quota = serializers.IntegerField(**QUOTA_FIELD, allow_null=True, help_text="null: the pool's quota")
    daily_image_quota = serializers.IntegerField(**QUOTA_FIELD, allow_null=True, help_text="null: the pool's quota")
    daily_video_quota = serializers.IntegerField(**QUOTA_FIELD, allow_null=True, help_text="null: the pool's quota")
    quota_today = serializers.SerializerMethodField(help_text="per kind: used today, the quota in force (0 = "
                                                              "unlimited) and until when it is used up")
    login_expires_in = serializers.SerializerMethodField(help_text="Seconds until the login expires (negative: "
                                                                   "expired; null: unknown).")

    class Meta:
        model = Account
        fields = ["id", "label", "display_name", "team_id", "csesidx", "secure_c_ses", "host_c_oses", "user_agent",
                  "proxy_url", "proxy_changed_by", "proxy_changed_at", "enabled", "status", "status_display",
                  "cooldown_until", "cooldown_remaining", "last_error", "attention_reason", "consecutive_failures",
                  "request_count", "success_count", "failure_count", "last_used_at", "logged_in_at",
                  "login_expires_at", "login_expires_in", "daily_text_quota", "daily_image_quota",
                  "daily_video_quota", "quota_today", "created_at", "updated_at", "last_24h"]
        read_only_fields = ["proxy_changed_by", "proxy_changed_at", "cooldown_until", "attention_reason",
                            "consecutive_failures", "request_count", "success_count", "failure_count",
                            "last_used_at", "logged_in_at", "login_expires_at", "created_at", "updated_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            # Updating: a PUT without the cookies keeps the stored ones.
            self.fields["secure_c_ses"].required = False

    def validate_csesidx(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate_team_id(self, value: str) -> str:
        return value.strip()

    def get_status(self, obj: Account) -> str:
        return effective_status(obj)

    def get_status_display(self, obj: Account) -> str:
        return AccountStatus(effective_status(obj)).label

    def get_cooldown_remaining(self, obj: Account) -> int:
        return int(obj.cooldown_remaining())

    def get_quota_today(self, obj: Account) -> dict:
        # A list passes the usage of every account and the pool in its context (one cache call for all).
        usage = self.context.get("quota_usage")
        used = usage.get(obj.pk) if usage is not None else None
        if used is None:
            used = quota_usage_today([obj.pk])[obj.pk]
        pool = self.context.get("pool") or PoolSettings.load()
        now = timezone.now()
        return {kind: {"used": used[kind], "quota": quota_limit(obj, pool, kind),
                       "exhausted_until": _future(getattr(obj, f"{kind}_exhausted_until"), now)}
                for kind in QUOTA_KINDS}

    def get_login_expires_in(self, obj: Account) -> int | None:
        if obj.login_expires_at is None:
            return None
        return int((obj.login_expires_at - timezone.now()).total_seconds())

    def get_last_error(self, obj: Account) -> dict | None:
        if not obj.last_error_kind:
            return None
        return {"kind": obj.last_error_kind, "message": obj.last_error_reason, "at": obj.last_error_at}

    def get_last_24h(self, obj: Account) -> dict:
        """From the context's `figures` (one query for a whole list), else this account's own query."""
        figures = self.context.get("figures")
        if figures is None:
            figures = account_figures(account_ids=[obj.pk])
        return figures.get(obj.pk, AccountFigures()).as_dict()

    def to_representation(self, instance: Account) -> dict:
        data = super().to_representation(instance)
        data["secure_c_ses"] = mask(instance.secure_c_ses)
        data["host_c_oses"] = mask(instance.host_c_oses)
        data["proxy_url"] = proxy_mask(instance.proxy_url)
        return data


class AccountListQuerySerializer(serializers.Serializer):
    """GET /api/accounts query parameters. Without `page` and `page_size` the answer stays the plain list."""

    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=ACCOUNT_PAGE_SIZE_MAX)
    ordering = serializers.CharField(required=False, default="id")
    status = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="An effective status, or several separated by commas.")
    search = serializers.CharField(required=False, allow_blank=True, default="", max_length=SEARCH_MAX_CHARS,
                                   help_text="Part of the label, team id, csesidx or login email (any case).")

    def validate_ordering(self, value: str) -> str:
        if value not in ORDERING_CHOICES:
            keys = ", ".join(key for key in ORDERING_CHOICES if not key.startswith("-"))
            raise serializers.ValidationError(f"Unknown ordering {value!r}: use one of {keys} "
                                              "(prefix - to sort descending).")
        return value

    def validate_status(self, value: str) -> tuple[str, ...]:
        statuses = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
        unknown = [item for item in statuses if item not in STATUS_CHOICES]
        if unknown:
            raise serializers.ValidationError(f"Unknown status {', '.join(unknown)}: use one of "
                                              f"{', '.join(STATUS_CHOICES)}.")
        return statuses

    def paginated(self) -> bool:
        return "page" in self.validated_data or "page_size" in self.validated_data

    def list_query(self) -> AccountListQuery:
        data = self.validated_data
        return AccountListQuery(ordering=data["ordering"], statuses=data["status"], search=data["search"].strip())


class AccountBulkSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), allow_empty=False,
                                max_length=BULK_MAX_IDS, help_text=f"At most {BULK_MAX_IDS} account ids.")

    def validate(self, attrs: dict) -> dict:
        attrs["ids"] = list(dict.fromkeys(attrs["ids"]))
        if attrs["action"] == "test" and len(attrs["ids"]) > BULK_TEST_MAX_IDS:
            raise serializers.ValidationError({"ids": [
                f"Test at most {BULK_TEST_MAX_IDS} accounts per call (got {len(attrs['ids'])}): each test "
                "calls upstream. Send the rest in further calls."]})
        return attrs


class AccountTestRequestSerializer(serializers.Serializer):
    chat = serializers.BooleanField(required=False, default=False)


class PoolSettingsSerializer(serializers.ModelSerializer):
    proxy = SecretField(source="proxy_url", max_length=500, required=False, allow_blank=True,
                        validators=[validate_proxy_url])
    cooldown_base_seconds = serializers.IntegerField(min_value=1, max_value=86400 * 7, required=False)
    cooldown_max_seconds = serializers.IntegerField(min_value=1, max_value=86400 * 7, required=False)
    unavailable_rest_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False)
    daily_text_quota = serializers.IntegerField(**QUOTA_FIELD, help_text="Answers per account per day; 0 = unlimited.")
    daily_image_quota = serializers.IntegerField(**QUOTA_FIELD, help_text="Images per account per day; 0 = unlimited.")
    daily_video_quota = serializers.IntegerField(**QUOTA_FIELD, help_text="Videos per account per day; 0 = unlimited.")
    quota_reset = serializers.SerializerMethodField(help_text="When daily quotas and key budgets start again "
                                                              "(GEMPOOL_QUOTA_RESET_HOUR, GEMPOOL_QUOTA_TIMEZONE).")
    proxy_test_url = serializers.SerializerMethodField(help_text="GEMPOOL_PROXY_TEST_URL: what the proxy test fetches.")

    class Meta:
        model = PoolSettings
        fields = ["proxy", "proxy_enabled", "proxy_test_url", "image_base_url", "default_model",
                  "cooldown_base_seconds", "cooldown_max_seconds", "unavailable_rest_seconds", "daily_text_quota",
                  "daily_image_quota", "daily_video_quota", "quota_reset", "proxy_changed_by", "proxy_changed_at",
                  "updated_at"]
        read_only_fields = ["proxy_changed_by", "proxy_changed_at", "updated_at"]

    def validate_default_model(self, value: str) -> str:
        from models_catalog.services import model_lookup

        value = value.strip()
        if value and model_lookup(name=value) is None:
            raise serializers.ValidationError(f"{value!r} is not an enabled model id or alias in the catalogue.")
        return value

    def validate(self, attrs: dict) -> dict:
        pool: PoolSettings = self.instance
        merged = {name: attrs.get(name, getattr(pool, name)) for name in
                  ("proxy_url", "proxy_enabled", "cooldown_base_seconds", "cooldown_max_seconds")}
        errors = {}
        if merged["proxy_enabled"] and not merged["proxy_url"]:
            errors["proxy"] = ["Set a proxy URL before enabling the proxy."]
        if merged["cooldown_base_seconds"] > merged["cooldown_max_seconds"]:
            errors["cooldown_base_seconds"] = ["Must not exceed cooldown_max_seconds."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def get_proxy_test_url(self, obj: PoolSettings) -> str:
        return settings.GEMPOOL_PROXY_TEST_URL

    def get_quota_reset(self, obj: PoolSettings) -> dict:
        day = quota_day()
        return {"hour": settings.GEMPOOL_QUOTA_RESET_HOUR, "timezone": settings.GEMPOOL_QUOTA_TIMEZONE,
                "day": day.label, "next_reset_at": day.ends_at}

    def to_representation(self, instance: PoolSettings) -> dict:
        data = super().to_representation(instance)
        data["proxy"] = proxy_mask(instance.proxy_url)
        return data


def proxy_status(pool: PoolSettings) -> dict:
    """GET /api/proxy/status: the current setting (masked) and the last stored test."""
    last = None
    if pool.last_proxy_test_at is not None:
        last = {"at": pool.last_proxy_test_at, "reachable": pool.last_proxy_test_ok,
                "latency_ms": pool.last_proxy_test_latency_ms, "error": pool.last_proxy_test_error}
    return {
        "proxy": proxy_mask(pool.proxy_url),
        "proxy_enabled": pool.proxy_enabled,
        "in_use": bool(pool.proxy_enabled and pool.proxy_url),
        "test_url": settings.GEMPOOL_PROXY_TEST_URL,
        "last_test": last,
    }


class ProxyTestRequestSerializer(serializers.Serializer):
    """The target is always GEMPOOL_PROXY_TEST_URL, fetched through a proxy: never a URL the caller picks."""

    proxy = serializers.CharField(required=False, allow_blank=True, max_length=500, validators=[validate_proxy_url],
                                  help_text="A candidate proxy to try before saving it; omit to test the stored one.")
    timeout = serializers.FloatField(required=False, min_value=1, max_value=30)

    def validate(self, attrs: dict) -> dict:
        if "url" in self.initial_data:
            raise serializers.ValidationError({"url": ["The proxy test always fetches GEMPOOL_PROXY_TEST_URL; "
                                                       "a URL cannot be chosen."]})
        return attrs


class ProxyTestResultSerializer(serializers.Serializer):
    reachable = serializers.BooleanField()
    url = serializers.CharField()
    via = serializers.CharField()
    latency_ms = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True, help_text="Why the test failed, as a sentence.")
    detail = serializers.CharField(allow_blank=True, help_text="The technical error behind `error` (credentials "
                                                               "masked).")


class ApiKeySerializer(serializers.ModelSerializer):
    """A key and its limits (accounts.key_limits); null = no limit. `usage_today` counts toward the budgets."""

    revoked = serializers.BooleanField(read_only=True)
    expired = serializers.SerializerMethodField()
    rate_limit_per_minute = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False,
                                                     allow_null=True)
    allowed_models = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                           max_length=500, help_text="Model ids the key may use; empty: every one.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    daily_request_budget = serializers.IntegerField(min_value=1, max_value=1_000_000_000, required=False,
                                                    allow_null=True)
    daily_token_budget = serializers.IntegerField(min_value=1, max_value=10**15, required=False, allow_null=True)
    max_concurrent_requests = serializers.IntegerField(min_value=1, max_value=1000, required=False,
                                                       allow_null=True)
    usage_today = serializers.SerializerMethodField(help_text="requests, estimated tokens and requests in "
                                                              "flight counted today (the quota day)")

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "is_admin", "rate_limit_per_minute", "allowed_models", "expires_at",
                  "expired", "daily_request_budget", "daily_token_budget", "max_concurrent_requests", "usage_today",
                  "created_at", "last_used_at", "revoked_at", "revoked"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None and not isinstance(self.instance, list | tuple) and "data" in kwargs:
            self.fields["is_admin"].read_only = True  # a key's power is fixed at creation: make a new key

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate_allowed_models(self, value: list[str]) -> list[str]:
        from models_catalog.models import ModelConfig

        ids = list(dict.fromkeys(item.strip() for item in value if item.strip()))
        known = set(ModelConfig.objects.filter(id__in=ids).values_list("id", flat=True))
        unknown = [item for item in ids if item not in known]
        if unknown:
            raise serializers.ValidationError(f"Unknown model id(s): {', '.join(unknown)}.")
        return ids

    def get_expired(self, obj: ApiKey) -> bool:
        return obj.expired()

    def get_usage_today(self, obj: ApiKey) -> dict[str, int]:
        from accounts.key_limits import key_usage_today

        return key_usage_today(obj)
