"""Management API (/api) of the re-login worker: mailboxes, each account's login profile, jobs, refresh now.

Same access as the rest of /api (a staff session or an admin key). Views parse, call one service, shape.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import _actor
from accounts.models import Account
from accounts.serializers import AccountSerializer
from gempool_site.auth import crud_permissions
from gempool_site.exceptions import GempoolError
from logins import services
from logins.mailbox import MailboxError
from logins.models import LoginProfile, Mailbox, RefreshJob
from logins.serializers import (
    JobListQuerySerializer,
    LoginProfileSerializer,
    MailboxSerializer,
    RefreshJobSerializer,
)

logger = logging.getLogger(__name__)

# What a staff user needs per method (gempool_site.auth.HasModelPermissions); admin keys may do it all.
MAILBOX_PERMISSIONS = crud_permissions("logins", "mailbox")
TEST_MAILBOX = {"POST": ("logins.change_mailbox",)}  # logs in with the stored secret
LOGIN_PROFILE = {"GET": ("logins.view_loginprofile",),
                 "PUT": ("logins.add_loginprofile", "logins.change_loginprofile")}
REFRESH_NOW = {"POST": ("logins.change_loginprofile",)}
PASTE_COOKIES = {"POST": ("accounts.change_account",)}
VIEW_JOBS = {"GET": ("logins.view_refreshjob",)}


class MailboxUnreadable(GempoolError):
    status = 502
    type = "mailbox_error"
    code = "mailbox_unreadable"


class ScreenshotGone(GempoolError):
    status = 404
    type = "not_found_error"
    code = "screenshot_not_found"


class MailboxListView(APIView):
    required_permissions = MAILBOX_PERMISSIONS
    serializer_class = MailboxSerializer

    @extend_schema(responses=MailboxSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(MailboxSerializer(Mailbox.objects.all(), many=True).data)

    @extend_schema(request=MailboxSerializer, responses={201: MailboxSerializer})
    def post(self, request: Request) -> Response:
        serializer = MailboxSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        mailbox = services.mailbox_save(mailbox=None, data=serializer.validated_data)
        logger.info("mailbox created", extra={"mailbox_id": mailbox.pk, "by": _actor(request)})
        return Response(MailboxSerializer(mailbox).data, status=status.HTTP_201_CREATED)


class MailboxDetailView(APIView):
    required_permissions = MAILBOX_PERMISSIONS
    serializer_class = MailboxSerializer

    def get(self, request: Request, pk: int) -> Response:
        return Response(MailboxSerializer(get_object_or_404(Mailbox, pk=pk)).data)

    def put(self, request: Request, pk: int) -> Response:
        return self._update(request, pk, partial=False)

    def patch(self, request: Request, pk: int) -> Response:
        return self._update(request, pk, partial=True)

    def _update(self, request: Request, pk: int, *, partial: bool) -> Response:
        mailbox = get_object_or_404(Mailbox, pk=pk)
        serializer = MailboxSerializer(mailbox, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        mailbox = services.mailbox_save(mailbox=mailbox, data=serializer.validated_data)
        logger.info("mailbox changed", extra={"mailbox_id": mailbox.pk, "by": _actor(request)})
        return Response(MailboxSerializer(mailbox).data)

    def delete(self, request: Request, pk: int) -> Response:
        mailbox = get_object_or_404(Mailbox, pk=pk)
        mailbox.delete()
        logger.info("mailbox deleted", extra={"mailbox_id": pk, "by": _actor(request)})
        return Response(status=status.HTTP_204_NO_CONTENT)


class MailboxTestView(APIView):
    required_permissions = TEST_MAILBOX
    @extend_schema(request=None)
    def post(self, request: Request, pk: int) -> Response:
        mailbox = get_object_or_404(Mailbox, pk=pk)
        try:
            count = services.mailbox_test(mailbox=mailbox)
        except MailboxError as exc:
            raise MailboxUnreadable(str(exc)) from None
        return Response({"ok": True, "messages": count})


class AccountLoginView(APIView):
    """An account's login address and mailbox (PUT sets them), with the refresh schedule's state."""

    required_permissions = LOGIN_PROFILE
    serializer_class = LoginProfileSerializer

    def get(self, request: Request, pk: int) -> Response:
        profile = get_object_or_404(LoginProfile, account_id=pk)
        return Response(LoginProfileSerializer(profile).data)

    def put(self, request: Request, pk: int) -> Response:
        account = get_object_or_404(Account, pk=pk)
        serializer = LoginProfileSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = services.profile_set(account=account, email=serializer.validated_data["email"],
                                       mailbox=serializer.validated_data.get("mailbox"))
        logger.info("login profile set", extra={"account_id": pk, "by": _actor(request)})
        return Response(LoginProfileSerializer(profile).data)


class AccountRefreshView(APIView):
    """Refresh now: the worker takes this account on its next pass (past any backoff or hard stop)."""

    required_permissions = REFRESH_NOW

    @extend_schema(request=None, responses={202: LoginProfileSerializer})
    def post(self, request: Request, pk: int) -> Response:
        account = get_object_or_404(Account.objects.select_related("login_profile"), pk=pk)
        profile = services.refresh_request(account=account)
        logger.info("refresh requested", extra={"account_id": pk, "by": _actor(request)})
        return Response(LoginProfileSerializer(profile).data, status=status.HTTP_202_ACCEPTED)


class CookiePasteSerializer(serializers.Serializer):
    cookies = serializers.CharField(max_length=512 * 1024, trim_whitespace=False,
                                    help_text="A browser-extension JSON export, a Netscape cookies.txt, or a "
                                              "Cookie: header.")
    url = serializers.CharField(max_length=2000, help_text="The app's address: .../cid/<configId>?csesidx=<n>")


class AccountCookiesView(APIView):
    """Manual refresh: paste cookies and the app URL; the account is updated and tested at once."""

    required_permissions = PASTE_COOKIES

    serializer_class = CookiePasteSerializer

    @extend_schema(request=CookiePasteSerializer)
    def post(self, request: Request, pk: int) -> Response:
        account = get_object_or_404(Account, pk=pk)
        body = CookiePasteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.login_paste(account=account, cookies=body.validated_data["cookies"],
                                      url=body.validated_data["url"])
        logger.info("login pasted", extra={"account_id": pk, "by": _actor(request), "test_ok": result.ok})
        account.refresh_from_db()
        return Response({**asdict(result), "account": AccountSerializer(account).data})


class RefreshJobListView(APIView):
    required_permissions = VIEW_JOBS
    serializer_class = RefreshJobSerializer

    @extend_schema(parameters=[JobListQuerySerializer], responses=RefreshJobSerializer(many=True))
    def get(self, request: Request) -> Response:
        query = JobListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        jobs = RefreshJob.objects.select_related("account")
        if "account" in query.validated_data:
            jobs = jobs.filter(account_id=query.validated_data["account"])
        if "outcome" in query.validated_data:
            jobs = jobs.filter(outcome=query.validated_data["outcome"])
        return Response(RefreshJobSerializer(jobs[:query.validated_data["limit"]], many=True).data)


class RefreshOverviewView(APIView):
    """The Refresh page's data: running attempts, the queue, what comes next, recent outcomes."""

    required_permissions = VIEW_JOBS

    def get(self, request: Request) -> Response:
        overview = services.refresh_overview()
        return Response({
            "now": overview["now"],
            "running": RefreshJobSerializer(overview["running"], many=True).data,
            "queue": [_queued(profile) for profile in overview["queue"]],
            "upcoming": [_queued(profile) for profile in overview["upcoming"]],
            "recent": RefreshJobSerializer(overview["recent"], many=True).data,
        })


def _queued(profile: LoginProfile) -> dict:
    account = profile.account
    return {"account": account.pk, "account_name": str(account), "email": profile.email,
            "mailbox": profile.mailbox.name if profile.mailbox else None, "status": account.status,
            "login_expires_at": account.login_expires_at, "next_attempt_at": profile.next_attempt_at,
            "refresh_requested_at": profile.refresh_requested_at, "failure_streak": profile.failure_streak,
            "claimed_by": profile.claimed_by or None, "attention_reason": account.attention_reason or None,
            "trial_days_left": profile.trial_days_left}


class RefreshJobScreenshotView(APIView):
    """The page as it was when the attempt failed (PNG)."""

    required_permissions = VIEW_JOBS

    def get(self, request: Request, pk: int) -> FileResponse:
        job = get_object_or_404(RefreshJob, pk=pk)
        path = services.screenshot_dir() / job.screenshot if job.screenshot else None
        if path is None or path.name != job.screenshot or not path.is_file():
            raise ScreenshotGone("This attempt has no screenshot (it succeeded, or the file was pruned).")
        return FileResponse(path.open("rb"), content_type="image/png")
