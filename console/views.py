"""The web console: a login page and the pages in PAGES, whose data comes from /api through small scripts."""
from __future__ import annotations

import logging

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from gempool_site.login_throttle import client_address, request_login_wait

logger = logging.getLogger(__name__)

PAGES = {
    "dashboard": "Dashboard",
    "accounts": "Accounts",
    "refresh": "Refresh",
    "models": "Models",
    "usage": "Usage",
    "requests": "Requests",
    "settings": "Settings",
}


def _is_staff(user) -> bool:
    return bool(user.is_active and user.is_staff)


staff_required = user_passes_test(_is_staff)  # to settings.LOGIN_URL


def _page(name: str):
    @require_GET
    @staff_required
    def view(request: HttpRequest) -> HttpResponse:
        return render(request, f"console/{name}.html", {"page": name, "title": PAGES[name], "pages": PAGES})

    view.__name__ = f"{name}_page"
    return view


dashboard_page = _page("dashboard")
accounts_page = _page("accounts")
refresh_page = _page("refresh")
models_page = _page("models")
usage_page = _page("usage")
requests_page = _page("requests")
settings_page = _page("settings")


class StaffAuthenticationForm(AuthenticationForm):
    """Only staff may use the console; others get the same message as a wrong password (no account probing)."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                        params={"username": self.username_field.verbose_name})


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    form_class = StaffAuthenticationForm

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if _is_staff(request.user):
            return redirect(self.get_success_url())
        return super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = request_login_wait(request)
        if not wait:
            return super().post(request, *args, **kwargs)  # a failure is counted by the throttle's signal
        logger.warning("login throttled", extra={"client": client_address(request), "path": request.path})
        # An unbound form: validating the posted one would check the password we refuse to check.
        form = self.form_class(request, initial={"username": request.POST.get("username", "")[:150]})
        context = self.get_context_data(form=form, throttled=wait)
        response = render(request, self.template_name, context, status=429)
        response["Retry-After"] = str(wait)
        return response


class LogoutView(auth_views.LogoutView):
    next_page = settings.LOGIN_URL
