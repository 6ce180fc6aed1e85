"""Management API (/api): accounts, pool config, import/export, proxy, API keys, dashboard.

Every view inherits the REST_FRAMEWORK defaults: an admin Bearer key, or a staff session (CSRF-checked)
holding the Django permissions the view's `required_permissions` names for the method (gempool_site.auth).
Views parse and validate, call one service, and serialize; the rules live in services.py.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, parsers, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.bulk import BULK_PERMISSIONS, accounts_bulk
from accounts.config_io import (
    ConfigInvalid,
    ImportSummary,
    config_export_text,
    config_import,
    config_parse_bytes,
)
from accounts.dashboard import dashboard_summary
from accounts.listing import account_list_queryset
from accounts.models import Account, ApiKey, PoolSettings
from accounts.proxies import pool_proxy_change_check, pool_proxy_current, proxy_change_record
from accounts.quotas import quota_usage_today
from accounts.serializers import (
    ACCOUNT_PAGE_SIZE_MAX,
    AccountBulkSerializer,
    AccountListQuerySerializer,
    AccountSerializer,
    AccountTestRequestSerializer,
    ApiKeySerializer,
    PoolSettingsSerializer,
    ProxyTestRequestSerializer,
    ProxyTestResultSerializer,
    proxy_status,
)
from gempool_site.auth import crud_permissions
from gempool_site.exceptions import GempoolError
from gempool_site.password_hashing import run_off_event_loop_with_db
from metering.figures import account_figures

logger = logging.getLogger(__name__)

ACCOUNT_PERMISSIONS = crud_permissions("accounts", "account")
POOL_PERMISSIONS = crud_permissions("accounts", "poolsettings")
CHANGE_ACCOUNT = {"POST": ("accounts.change_account",)}
# An import may create and change accounts and models and replaces pool settings.
IMPORT_PERMISSIONS = {"POST": ("accounts.add_account", "accounts.change_account", "models_catalog.add_modelconfig",
                               "models_catalog.change_modelconfig", "accounts.change_poolsettings")}
MANAGE_KEYS = ("accounts.manage_api_keys",)

SECRETS_HEADER = "X-Gempool-Contains-Secrets"
EXPORT_FILENAME = "business_gemini_session.json"


class ExportNeedsStaff(GempoolError):
    status = 403
    type = "permission_error"
    code = "export_needs_staff_user"


def _actor(request: Request) -> str:
    """Who did it, for the audit line: a user name or an API key's prefix (never the key)."""
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.get_username()}"
    return f"key:{getattr(request.auth, 'prefix', '?')}"


# ---- accounts -------------------------------------------------------------------------------


class AccountPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = ACCOUNT_PAGE_SIZE_MAX


# Generic views: DRF parses, validates and renders; the hooks hand each write to the service.
class AccountListView(generics.ListCreateAPIView):
    """GET: every account as a plain list, or with `page`/`page_size` one page of {count, next, previous, results};
    `ordering`, `status` and `search` sort and narrow either form (accounts.listing)."""

    required_permissions = ACCOUNT_PERMISSIONS
    queryset = Account.objects.order_by("id")
    serializer_class = AccountSerializer

    @extend_schema(parameters=[AccountListQuerySerializer], responses=AccountSerializer(many=True))
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def list(self, request: Request, *args, **kwargs) -> Response:
        params = AccountListQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = account_list_queryset(params.list_query())
        paginator = AccountPagination() if params.paginated() else None
        accounts = list(paginator.paginate_queryset(queryset, request, view=self) if paginator else queryset)
        ids = [account.pk for account in accounts]
        # Today's quota use of every listed account in one cache call, the pool read once, and the 24 h
        # figures in one query (for a page: of its accounts only).
        context = {**self.get_serializer_context(), "pool": PoolSettings.load(), "quota_usage": quota_usage_today(ids),
                   "figures": account_figures(account_ids=ids) if paginator else account_figures()}
        data = AccountSerializer(accounts, many=True, context=context).data
        return paginator.get_paginated_response(data) if paginator else Response(data)

    def perform_create(self, serializer: AccountSerializer) -> None:
        serializer.instance = account = services.account_create(data=serializer.validated_data)
        logger.info("account created", extra={"account_id": account.pk, "by": _actor(self.request)})
        if account.proxy_url:
            proxy_change_record(target=account, actor=_actor(self.request))


class AccountBulkView(APIView):
    """One action over up to BULK_MAX_IDS accounts; a result per id (unknown ids included, not fatal)."""

    # Seeing the accounts lets a caller in; each action then needs the permission its single-account route needs.
    required_permissions = {"POST": ("accounts.view_account",)}

    @extend_schema(request=AccountBulkSerializer, responses=inline_serializer("AccountBulkResult", {
        "action": serializers.CharField(), "requested": serializers.IntegerField(),
        "succeeded": serializers.IntegerField(), "failed": serializers.IntegerField(),
        "results": serializers.ListField(child=serializers.JSONField())}))
    def post(self, request: Request) -> Response:
        body = AccountBulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action, ids = body.validated_data["action"], body.validated_data["ids"]
        _require_permission(request, BULK_PERMISSIONS[action])
        outcome = accounts_bulk(action=action, ids=ids)
        logger.info("accounts bulk action", extra={"action": action, "requested": len(ids),
                                                   "succeeded": outcome.succeeded, "by": _actor(request)})
        return Response(outcome.as_dict())


def _require_permission(request: Request, permission: str) -> None:
    """A staff user must hold `permission` (admin keys and superusers hold every one), as HasModelPermissions says."""
    if request.auth is not None or request.user.is_superuser or request.user.has_perm(permission):
        return
    raise PermissionDenied(f"Your user lacks the permission needed here: {permission}.")


class AccountDetailView(generics.RetrieveUpdateDestroyAPIView):
    required_permissions = ACCOUNT_PERMISSIONS
    queryset = Account.objects.all()
    serializer_class = AccountSerializer

    def perform_update(self, serializer: AccountSerializer) -> None:
        proxy_before = serializer.instance.proxy_url
        serializer.instance = account = services.account_update(account=serializer.instance,
                                                                 data=serializer.validated_data)
        logger.info("account updated", extra={"account_id": account.pk, "by": _actor(self.request)})
        if account.proxy_url != proxy_before:
            proxy_change_record(target=account, actor=_actor(self.request))

    def perform_destroy(self, instance: Account) -> None:
        pk = instance.pk
        services.account_delete(account=instance)
        logger.info("account deleted", extra={"account_id": pk, "by": _actor(self.request)})


class AccountToggleView(APIView):
    required_permissions = CHANGE_ACCOUNT
    @extend_schema(request=None, responses=AccountSerializer)
    def post(self, request: Request, pk: int) -> Response:
        account = services.account_toggle(account=get_object_or_404(Account, pk=pk))
        return Response(AccountSerializer(account).data)


class AccountTestView(APIView):
    required_permissions = CHANGE_ACCOUNT
    @extend_schema(request=AccountTestRequestSerializer, responses=inline_serializer("AccountTestResult", {
        "ok": serializers.BooleanField(), "status": serializers.CharField(),
        "latency_ms": serializers.IntegerField(), "error": serializers.JSONField(allow_null=True),
        "reply": serializers.CharField(allow_null=True), "account": AccountSerializer()}))
    def post(self, request: Request, pk: int) -> Response:
        account = get_object_or_404(Account, pk=pk)
        options = AccountTestRequestSerializer(data=request.data or {})
        options.is_valid(raise_exception=True)
        result = services.account_test(account=account, chat=options.validated_data["chat"])
        account.refresh_from_db()
        return Response({**asdict(result), "account": AccountSerializer(account).data})


# ---- pool config, import, export ------------------------------------------------------------


class ConfigView(APIView):
    required_permissions = POOL_PERMISSIONS
    """GET/PUT the pool settings. Fields left out of a PUT keep their values (the proxy is write-only)."""

    serializer_class = PoolSettingsSerializer

    def get(self, request: Request) -> Response:
        return Response(PoolSettingsSerializer(PoolSettings.load()).data)

    def put(self, request: Request) -> Response:
        serializer = PoolSettingsSerializer(PoolSettings.load(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        pool = services.pool_settings_update(data=serializer.validated_data, actor=_actor(request))
        logger.info("pool settings updated", extra={"by": _actor(request),
                                                    "fields": ",".join(sorted(serializer.validated_data))})
        return Response(PoolSettingsSerializer(pool).data)

    patch = put


class RawBodyParser(parsers.BaseParser):
    """Hands the body over as bytes, so the import reports JSON errors with line and column itself."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read(settings.GEMPOOL_IMPORT_MAX_BYTES + 1) if stream is not None else b""


class ConfigImportView(APIView):
    required_permissions = IMPORT_PERMISSIONS
    """POST a business_gemini_session.json as the body or as the multipart field `file`. All or nothing."""

    parser_classes = [parsers.MultiPartParser, RawBodyParser]

    @extend_schema(
        request={"application/json": {"type": "object"},
                 "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string",
                                                                                   "format": "binary"}}}},
        parameters=[OpenApiParameter("dry_run", bool, description="validate and report, change nothing")],
        responses={200: inline_serializer("ImportSummary", {
            "dry_run": serializers.BooleanField(), "accounts_created": serializers.IntegerField(),
            "accounts_updated": serializers.IntegerField(), "models_created": serializers.IntegerField(),
            "models_updated": serializers.IntegerField(), "message": serializers.CharField()}),
            400: OpenApiResponse(description="the config is invalid; error.problems lists every problem")})
    def post(self, request: Request) -> Response:
        dry_run = request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")
        raw = self._raw(request)
        # Seconds of CPU for a large config: on a native thread, so the gevent loop keeps serving every
        # other request and stream of this worker (and its heartbeat) meanwhile. ConfigInvalid (from parsing,
        # or from the import's checks against the stored catalogue, which undo it) and ImportConflict come
        # back here and the handler renders them.
        summary = run_off_event_loop_with_db(_parse_and_import, raw, dry_run, _actor(request))
        logger.info("config imported", extra={"by": _actor(request), "dry_run": dry_run,
                                              "accounts": summary.accounts_created + summary.accounts_updated})
        return Response({"dry_run": summary.dry_run, "accounts_created": summary.accounts_created,
                         "accounts_updated": summary.accounts_updated, "models_created": summary.models_created,
                         "models_updated": summary.models_updated, "message": summary.as_text()})

    def _raw(self, request: Request) -> bytes:
        data = request.data
        if isinstance(data, bytes):
            return data
        upload = request.FILES.get("file")
        if upload is None:
            raise ConfigInvalid(["file: attach the config as the multipart field 'file' (or send it as the body)."])
        return upload.read(settings.GEMPOOL_IMPORT_MAX_BYTES + 1)


def _parse_and_import(raw: bytes, dry_run: bool, actor: str) -> ImportSummary:
    config = config_parse_bytes(raw)  # ConfigInvalid: the handler lists every problem
    proxy_before = pool_proxy_current()
    summary = config_import(config=config, dry_run=dry_run)
    if not dry_run:
        pool_proxy_change_check(before=proxy_before, actor=actor)
    return summary


class ConfigExportView(APIView):
    required_permissions = {"GET": ("accounts.export_secrets",)}
    """The whole config with secrets, as a download. Only a staff user's session may take the cookies out.

    Admin API keys get 403: an automated caller holding a key should not be able to lift every account's
    cookies in one call, and a masked export could not be imported back. `manage.py exportconfig` on the
    host covers scripted backups.
    """

    @extend_schema(responses={(200, "application/json"): {"type": "object"}})
    def get(self, request: Request) -> HttpResponse:
        if not (request.user and request.user.is_authenticated and request.user.is_staff):
            raise ExportNeedsStaff("Exporting includes account cookies and needs a logged-in staff user; admin "
                                   "API keys cannot export. On the host, use `manage.py exportconfig`.")
        response = HttpResponse(config_export_text(), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{EXPORT_FILENAME}"'
        response[SECRETS_HEADER] = "true"
        response["Cache-Control"] = "no-store"
        logger.info("config exported", extra={"by": _actor(request)})
        return response


# ---- proxy ----------------------------------------------------------------------------------


class ProxyTestView(APIView):
    """Fetch GEMPOOL_PROXY_TEST_URL through the stored (or a candidate) proxy; never directly."""

    required_permissions = {"POST": ("accounts.change_poolsettings",)}
    @extend_schema(request=ProxyTestRequestSerializer, responses=ProxyTestResultSerializer)
    def post(self, request: Request) -> Response:
        options = ProxyTestRequestSerializer(data=request.data or {})
        options.is_valid(raise_exception=True)
        kwargs = {key: options.validated_data[key] for key in ("proxy", "timeout")
                  if key in options.validated_data}
        result = services.proxy_test(**kwargs)
        return Response(ProxyTestResultSerializer(result).data)


class ProxyStatusView(APIView):
    required_permissions = {"GET": ("accounts.view_poolsettings",)}
    @extend_schema(responses=inline_serializer("ProxyStatus", {
        "proxy": serializers.CharField(), "proxy_enabled": serializers.BooleanField(),
        "in_use": serializers.BooleanField(), "test_url": serializers.CharField(),
        "last_test": serializers.JSONField(allow_null=True)}))
    def get(self, request: Request) -> Response:
        return Response(proxy_status(PoolSettings.load()))


# ---- API keys -------------------------------------------------------------------------------


class ApiKeyListView(APIView):
    required_permissions = {"GET": ("accounts.view_apikey",), "POST": MANAGE_KEYS}
    serializer_class = ApiKeySerializer

    @extend_schema(responses=ApiKeySerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ApiKeySerializer(ApiKey.objects.order_by("-created_at", "-id"), many=True).data)

    @extend_schema(request=ApiKeySerializer, responses={201: ApiKeySerializer})
    def post(self, request: Request) -> Response:
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, raw = services.api_key_create(**serializer.validated_data)
        logger.info("api key created", extra={"key_prefix": api_key.prefix, "by": _actor(request)})
        # The raw key leaves the server only here, once; nothing may cache this response.
        return Response({**ApiKeySerializer(api_key).data, "key": raw}, status=status.HTTP_201_CREATED,
                        headers={"Cache-Control": "no-store"})


class ApiKeyDetailView(APIView):
    """One key; PATCH/PUT change its name and limits (fields left out keep their values; null clears a limit)."""

    required_permissions = {"GET": ("accounts.view_apikey",), "PATCH": MANAGE_KEYS, "PUT": MANAGE_KEYS}
    serializer_class = ApiKeySerializer

    @extend_schema(responses=ApiKeySerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(ApiKeySerializer(get_object_or_404(ApiKey, pk=pk)).data)

    @extend_schema(request=ApiKeySerializer, responses=ApiKeySerializer)
    def patch(self, request: Request, pk: int) -> Response:
        api_key = get_object_or_404(ApiKey, pk=pk)
        serializer = ApiKeySerializer(api_key, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        api_key = services.api_key_update(api_key=api_key, data=serializer.validated_data)
        logger.info("api key updated", extra={"key_prefix": api_key.prefix, "by": _actor(request),
                                              "fields": ",".join(sorted(serializer.validated_data))})
        return Response(ApiKeySerializer(api_key).data)

    put = patch


class ApiKeyRevokeView(APIView):
    required_permissions = {"POST": MANAGE_KEYS}
    @extend_schema(request=None, responses=ApiKeySerializer)
    def post(self, request: Request, pk: int) -> Response:
        api_key = get_object_or_404(ApiKey, pk=pk)
        services.api_key_revoke(api_key=api_key)
        logger.info("api key revoked", extra={"key_prefix": api_key.prefix, "by": _actor(request)})
        return Response(ApiKeySerializer(api_key).data)


# ---- dashboard ------------------------------------------------------------------------------


class DashboardView(APIView):
    required_permissions = {"GET": ("accounts.view_account",)}
    @extend_schema(responses={200: OpenApiResponse(description="counts, 24 h hourly series, recent errors")})
    def get(self, request: Request) -> Response:
        return Response(dashboard_summary())
