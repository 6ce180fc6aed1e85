"""Django admin for re-login: mailbox secrets are masked and only replaceable; jobs are read-only."""
from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin import SecretReplaceForm
from gempool_site.exceptions import GempoolError
from logins import services
from logins.models import LoginProfile, Mailbox, RefreshJob


class MailboxForm(SecretReplaceForm):
    secret_fields = ("password", "oauth_refresh_token")

    class Meta:
        model = Mailbox
        fields = ["name", "kind", "host", "port", "security", "verify_tls", "username", "password",
                  "oauth_client_id", "oauth_refresh_token", "oauth_tenant", "folders", "catch_all"]


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ["name", "kind", "host", "port", "username", "catch_all"]
    search_fields = ["name", "host", "username"]


@admin.register(LoginProfile)
class LoginProfileAdmin(admin.ModelAdmin):
    list_display = ["account", "email", "mailbox", "failure_streak", "next_attempt_at", "refresh_requested_at",
                    "trial_days_left"]
    list_select_related = ["account", "mailbox"]
    search_fields = ["email", "account__label"]
    fields = ["account", "email", "mailbox", "failure_streak", "next_attempt_at", "refresh_requested_at",
              "claimed_by", "claimed_until", "trial_days_left", "trial_read_at"]
    readonly_fields = ["failure_streak", "next_attempt_at", "refresh_requested_at", "claimed_by", "claimed_until",
                       "trial_days_left", "trial_read_at"]
    actions = ["refresh_now"]

    @admin.action(description="Refresh now")
    def refresh_now(self, request, queryset) -> None:
        count = 0
        for profile in queryset.select_related("account"):
            try:
                services.refresh_request(account=profile.account)
                count += 1
            except GempoolError as exc:
                self.message_user(request, f"{profile.account}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Asked the worker to refresh {count} account(s).", messages.SUCCESS)


@admin.register(RefreshJob)
class RefreshJobAdmin(admin.ModelAdmin):
    list_display = ["started_at", "account", "trigger", "outcome", "step", "error", "screenshot_link"]
    list_filter = ["outcome", "trigger"]
    list_select_related = ["account"]
    search_fields = ["account__label", "error"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="screenshot")
    def screenshot_link(self, obj: RefreshJob):
        if not obj.screenshot:
            return "—"
        return format_html('<a href="{}">view</a>', reverse("api-refresh-job-screenshot", args=[obj.pk]))
