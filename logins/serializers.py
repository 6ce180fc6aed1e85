"""Shapes of the re-login API: mailboxes (secrets write-only, shown masked), login profiles, jobs."""
from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from accounts.serializers import SecretField
from gempool_site.crypto import mask
from logins.models import LoginProfile, Mailbox, MailboxKind, RefreshJob


class MailboxSerializer(serializers.ModelSerializer):
    password = SecretField(max_length=1000, required=False, allow_blank=True)
    oauth_refresh_token = SecretField(max_length=8192, required=False, allow_blank=True)
    accounts = serializers.SerializerMethodField()

    class Meta:
        model = Mailbox
        fields = ["id", "name", "kind", "host", "port", "security", "verify_tls", "username", "password",
                  "oauth_client_id", "oauth_refresh_token", "oauth_tenant", "folders", "catch_all", "accounts",
                  "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_host(self, value: str) -> str:
        host = value.strip()
        try:
            host.encode("idna")  # what the resolver will do with it: rejects control and invalid characters
        except UnicodeError:
            raise serializers.ValidationError("Enter a host name or IP address, e.g. imap.example.com.") from None
        if not host or any(c.isspace() or c in "/@" for c in host):  # a URL or an address pasted by mistake
            raise serializers.ValidationError("Enter a host name or IP address, e.g. imap.example.com.")
        return host

    def validate_folders(self, value: str) -> str:
        folders = [name.strip() for name in value.split(",") if name.strip()]
        if not folders:
            raise serializers.ValidationError("Name at least one folder, e.g. INBOX,Junk.")
        return ",".join(folders)

    def validate(self, attrs: dict) -> dict:
        merged = {**({f: getattr(self.instance, f) for f in ("kind", "password", "oauth_client_id",
                                                              "oauth_refresh_token")} if self.instance else {}),
                  **attrs}
        if merged.get("kind", MailboxKind.IMAP_PASSWORD) == MailboxKind.MICROSOFT_OAUTH:
            if not merged.get("oauth_client_id") or not merged.get("oauth_refresh_token"):
                raise serializers.ValidationError(
                    {"oauth_refresh_token": "A Microsoft mailbox needs oauth_client_id and oauth_refresh_token."})
        elif not merged.get("password"):
            raise serializers.ValidationError({"password": "An IMAP mailbox needs its password."})
        return attrs

    def get_accounts(self, obj: Mailbox) -> list[int]:
        return list(obj.profiles.values_list("account_id", flat=True))

    def to_representation(self, instance: Mailbox) -> dict:
        data = super().to_representation(instance)
        data["password"] = mask(instance.password)
        data["oauth_refresh_token"] = mask(instance.oauth_refresh_token)
        return data


class LoginProfileSerializer(serializers.ModelSerializer):
    mailbox = serializers.PrimaryKeyRelatedField(queryset=Mailbox.objects.all(), allow_null=True, required=False)

    class Meta:
        model = LoginProfile
        fields = ["account", "email", "mailbox", "failure_streak", "next_attempt_at", "refresh_requested_at",
                  "claimed_by", "claimed_until", "trial_days_left", "trial_read_at"]
        read_only_fields = ["account", "failure_streak", "next_attempt_at", "refresh_requested_at", "claimed_by",
                            "claimed_until", "trial_days_left", "trial_read_at"]


class RefreshJobSerializer(serializers.ModelSerializer):
    account_name = serializers.SerializerMethodField()
    screenshot_url = serializers.SerializerMethodField()
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = RefreshJob
        fields = ["id", "account", "account_name", "trigger", "worker", "started_at", "finished_at",
                  "duration_seconds", "outcome", "step", "error", "page_url", "page_title", "screenshot_url",
                  "new_login_expires_at"]

    def get_account_name(self, obj: RefreshJob) -> str:
        return str(obj.account)

    def get_screenshot_url(self, obj: RefreshJob) -> str | None:
        return reverse("api-refresh-job-screenshot", args=[obj.pk]) if obj.screenshot else None

    def get_duration_seconds(self, obj: RefreshJob) -> float | None:
        return round((obj.finished_at - obj.started_at).total_seconds(), 1) if obj.finished_at else None


class JobListQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    outcome = serializers.ChoiceField(choices=[c for c, _ in RefreshJob._meta.get_field("outcome").choices],
                                      required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=50)
