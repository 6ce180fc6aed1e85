"""Django admin for the pool: secrets are masked and can only be replaced, never read back."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from rest_framework import serializers

from accounts import services
from accounts.lifecycle import effective_status
from accounts.models import Account, AccountStatus, ApiKey, PoolSettings
from accounts.proxies import proxy_change_record, validate_proxy_url
from gempool_site.crypto import mask

STATUS_COLOURS = {
    AccountStatus.ACTIVE: "#1e8e3e",
    AccountStatus.COOLING_DOWN: "#e37400",
    AccountStatus.NEEDS_LOGIN: "#d93025",
    AccountStatus.NEEDS_ATTENTION: "#a50e0e",
    AccountStatus.DISABLED: "#5f6368",
}
SECRET_FIELDS = ("secure_c_ses", "host_c_oses", "proxy_url")
LAST_ERROR_CHARS = 60


def _accounts(count: int) -> str:
    return f"{count} account{'' if count == 1 else 's'}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SecretReplaceForm(forms.ModelForm):
    """Renders secret fields as empty password inputs: blank keeps the stored value, text replaces it."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            current = getattr(self.instance, name, "") if self.instance.pk else ""
            field = self.fields[name]
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
            field.initial = ""
            if current:
                field.required = False
                field.help_text = f"Stored: {mask(current)}. Leave blank to keep it; type to replace it."

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in self.secret_fields:
            if name in cleaned and not cleaned[name] and self.instance.pk:
                cleaned[name] = getattr(type(self.instance).objects.get(pk=self.instance.pk), name)
        return cleaned


class ProxyPolicyMixin:
    """The proxy goes through the same validator as on the API and in imports (accounts.proxies)."""

    def clean_proxy_url(self) -> str:
        value = self.cleaned_data.get("proxy_url", "")
        try:
            return validate_proxy_url(value)
        except serializers.ValidationError as exc:
            raise forms.ValidationError([str(message) for message in exc.detail]) from None


def _record_proxy_change(request, obj, form) -> None:
    if "proxy_url" in form.changed_data:
        proxy_change_record(target=obj, actor=f"user:{request.user.get_username()}")


class AccountForm(ProxyPolicyMixin, SecretReplaceForm):
    secret_fields = SECRET_FIELDS

    class Meta:
        model = Account
        fields = ["label", "team_id", "csesidx", "secure_c_ses", "host_c_oses", "user_agent", "proxy_url",
                  "enabled", "daily_text_quota", "daily_image_quota", "daily_video_quota"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    # Few, narrow columns, so the list fits a 1366 px screen with the filter sidebar beside it; the seat's
    # ids go under its name, the last error is cut short (the change page has it whole).
    list_display = ["seat", "status_badge", "cooldown", "last_error", "requests", "errors", "last_used", "enabled"]
    list_display_links = ["seat"]
    list_filter = ["status", "enabled"]
    search_fields = ["label", "team_id", "csesidx", "login_profile__email"]
    list_per_page = 50
    list_max_show_all = 500
    actions = ["enable_accounts", "disable_accounts", "clear_cooldown"]
    runtime_fields = ["status", "attention_reason", "cooldown_until", "cooldown_streak", "last_error_kind",
                      "last_error_reason", "last_error_at", "consecutive_failures", "last_used_at",
                      "logged_in_at", "login_expires_at", "request_count", "success_count", "failure_count",
                      "text_exhausted_until", "image_exhausted_until", "video_exhausted_until",
                      "created_at", "updated_at"]
    readonly_fields = ["proxy_changed_by", "proxy_changed_at", *runtime_fields]
    fieldsets = [
        (None, {"fields": ["label", "team_id", "csesidx", "user_agent", "enabled"]}),
        ("Secrets (write-only)", {"fields": ["secure_c_ses", "host_c_oses", "proxy_url", "proxy_changed_by",
                                             "proxy_changed_at"]}),
        ("Daily quotas (blank: the pool's; 0: unlimited)", {"fields": ["daily_text_quota", "daily_image_quota",
                                                                       "daily_video_quota"]}),
        ("Runtime state", {"fields": runtime_fields}),
    ]

    @admin.display(description="account", ordering="label")
    def seat(self, obj: Account):
        return format_html('<span style="overflow-wrap:anywhere">{}</span><br>'
                           '<small style="color:var(--body-quiet-color);overflow-wrap:anywhere">{} · {}</small>',
                           str(obj), _shorten(obj.team_id, 24), obj.csesidx)

    @admin.display(description="requests", ordering="request_count")
    def requests(self, obj: Account) -> int:
        return obj.request_count

    @admin.display(description="errors", ordering="failure_count")
    def errors(self, obj: Account) -> int:
        return obj.failure_count

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: Account) -> str:
        return timezone.localtime(obj.last_used_at).strftime("%Y-%m-%d %H:%M") if obj.last_used_at else "—"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Account):
        status = AccountStatus(effective_status(obj))  # the pool's view, as the console shows it
        colour = STATUS_COLOURS.get(status, "#5f6368")
        return format_html('<span style="color:#fff;background:{};padding:2px 8px;border-radius:10px">{}</span>',
                           colour, status.label)

    @admin.display(description="cooldown", ordering="cooldown_until")
    def cooldown(self, obj: Account) -> str:
        remaining = obj.cooldown_remaining()
        return f"{int(remaining)} s" if remaining else "—"

    @admin.display(description="last error", ordering="last_error_at")
    def last_error(self, obj: Account) -> str:
        if not obj.last_error_at:
            return "—"
        return _shorten(f"{obj.last_error_kind}: {obj.last_error_reason}", LAST_ERROR_CHARS)

    @admin.action(description="Enable selected accounts")
    def enable_accounts(self, request, queryset) -> None:
        count = services.account_set_enabled(accounts=queryset, enabled=True)
        self.message_user(request, f"Enabled {_accounts(count)}.", messages.SUCCESS)

    @admin.action(description="Disable selected accounts")
    def disable_accounts(self, request, queryset) -> None:
        count = services.account_set_enabled(accounts=queryset, enabled=False)
        self.message_user(request, f"Disabled {_accounts(count)}.", messages.SUCCESS)

    @admin.action(description="Clear cooldown")
    def clear_cooldown(self, request, queryset) -> None:
        count = services.account_clear_cooldown(accounts=queryset)
        self.message_user(request, f"Cleared the cooldown of {_accounts(count)}.", messages.SUCCESS)

    def save_model(self, request, obj: Account, form, change: bool) -> None:
        # Through the services, never a full save(): the form's copy of the runtime fields is stale by now
        # (the pool moves the counters concurrently), and enabling or new cookies are life-cycle events.
        data = {name: form.cleaned_data[name] for name in services.ACCOUNT_FIELDS if name in form.cleaned_data}
        if change:
            saved = services.account_update(account=Account.objects.get(pk=obj.pk), data=data)
        else:
            saved = services.account_create(data=data)
        obj.pk = saved.pk
        obj.refresh_from_db()
        _record_proxy_change(request, obj, form)


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = "__all__"
        help_texts = {"allowed_models": 'A JSON list of model ids, e.g. ["gemini-2.5-flash"]; [] allows every model.'}

    def clean_allowed_models(self) -> list[str]:
        from models_catalog.models import ModelConfig

        value = self.cleaned_data.get("allowed_models") or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError("Enter a JSON list of model ids.")
        unknown = sorted(set(value) - set(ModelConfig.objects.filter(id__in=value).values_list("id", flat=True)))
        if unknown:
            raise forms.ValidationError(f"Unknown model id(s): {', '.join(unknown)}.")
        return value


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "is_admin", "expires_at", "daily_request_budget", "daily_token_budget",
                    "max_concurrent_requests", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["is_admin"]
    search_fields = ["name", "prefix"]
    form = ApiKeyForm
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", "prefix", "is_admin", "rate_limit_per_minute", "allowed_models", "expires_at",
              "daily_request_budget", "daily_token_budget", "max_concurrent_requests", "created_at", "last_used_at",
              "revoked_at"]
    actions = ["revoke_keys"]

    def has_add_permission(self, request) -> bool:
        # A key must be shown exactly once at creation: the console and `createapikey` do that.
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request, queryset) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        count = queryset.count()
        self.message_user(request, f"Revoked {count} key{'' if count == 1 else 's'}.", messages.SUCCESS)


class PoolSettingsForm(ProxyPolicyMixin, SecretReplaceForm):
    secret_fields = ("proxy_url",)

    class Meta:
        model = PoolSettings
        fields = ["proxy_url", "proxy_enabled", "image_base_url", "default_model", "cooldown_base_seconds",
                  "cooldown_max_seconds", "unavailable_rest_seconds", "daily_text_quota", "daily_image_quota",
                  "daily_video_quota"]


@admin.register(PoolSettings)
class PoolSettingsAdmin(admin.ModelAdmin):
    form = PoolSettingsForm
    list_display = ["__str__", "proxy_enabled", "image_base_url", "cooldown_base_seconds",
                    "cooldown_max_seconds", "updated_at"]
    readonly_fields = ["proxy_changed_by", "proxy_changed_at", "last_proxy_test_at", "last_proxy_test_ok",
                       "last_proxy_test_latency_ms", "last_proxy_test_error"]

    def has_add_permission(self, request) -> bool:
        return not PoolSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: PoolSettings, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _record_proxy_change(request, obj, form)


admin.site.site_header = "gempool administration"
admin.site.site_title = "gempool"
