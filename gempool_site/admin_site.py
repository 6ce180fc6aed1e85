"""Django's admin site with the same sign-in throttle as the console (gempool_site.login_throttle)."""
from __future__ import annotations

import logging

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from gempool_site.login_throttle import client_address, request_login_wait

logger = logging.getLogger(__name__)


class GempoolAdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        wait = request_login_wait(request) if request.method == "POST" else 0
        if not wait:
            return super().login(request, extra_context)
        logger.warning("login throttled", extra={"client": client_address(request), "path": request.path})
        return self._throttled(request, wait)

    def _throttled(self, request: HttpRequest, wait: int) -> HttpResponse:
        """The admin's login page with an unbound form (the posted password is never checked) and the wait."""
        from django.contrib.admin.forms import AdminAuthenticationForm

        form_class = self.login_form or AdminAuthenticationForm
        context = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
            "form": form_class(request, initial={"username": request.POST.get("username", "")[:150]}),
            "throttled": wait,
            REDIRECT_FIELD_NAME: LoginView().get_redirect_url(request) or reverse("admin:index",
                                                                                  current_app=self.name),
        }
        request.current_app = self.name
        response = TemplateResponse(request, self.login_template or "admin/login.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
