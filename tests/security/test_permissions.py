"""/api honours Django permissions: a staff user gets only what their permissions allow; keys as documented."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern, URLResolver, get_resolver

from tests.security.test_access import _concrete

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete")


def _api_views():
    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and (prefix + str(entry.pattern)).startswith("api/"):
                yield prefix + str(entry.pattern), entry.callback

    return sorted(walk(get_resolver().url_patterns), key=lambda item: item[0])


API_ROUTES = [route for route, _ in _api_views() if route != "api/schema/"]


@pytest.fixture
def bare_staff(client, django_user_model):
    """Staff, refused by the admin for lack of permissions: the probe's persona."""
    user = django_user_model.objects.create_user(username="bare", password="pw-bare-123", is_staff=True)
    client.force_login(user)
    return client, user


def _grant(user, *codenames):
    app_labels = {name.split(".")[0] for name in codenames}
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label__in=app_labels, codename__in=[name.split(".")[1] for name in codenames]))


def test_every_api_view_names_the_permissions_of_each_method_it_serves():
    for route, callback in _api_views():
        view = getattr(callback, "cls", None)
        if route == "api/schema/":
            continue
        served = [m.upper() for m in METHODS if hasattr(view, m)]
        required = getattr(view, "required_permissions", {})
        assert served and all(required.get(method) for method in served), (route, served, required)


@pytest.mark.parametrize("route", API_ROUTES)
def test_a_staff_user_without_permissions_is_refused_everywhere(bare_staff, route):
    client, _ = bare_staff
    for method in METHODS:
        response = getattr(client, method)(_concrete(route), content_type="application/json")
        assert response.status_code in (403, 405), (method, route, response.status_code)
        if response.status_code == 403:
            body = response.json()["error"]
            assert body["type"] == "permission_error" and "lacks the permission" in body["message"]


def test_the_probe_export_and_key_creation_are_refused(bare_staff):
    client, _ = bare_staff
    export = client.get("/api/config/export")
    assert export.status_code == 403 and "accounts.export_secrets" in export.json()["error"]["message"]
    created = client.post("/api/keys", {"name": "mine", "is_admin": True}, content_type="application/json")
    assert created.status_code == 403 and "accounts.manage_api_keys" in created.json()["error"]["message"]


def test_each_action_needs_its_own_permission(bare_staff, make_account):
    client, user = bare_staff
    account = make_account()
    _grant(user, "accounts.view_account")
    assert client.get("/api/accounts").status_code == 200
    assert client.get(f"/api/accounts/{account.pk}").status_code == 200
    assert client.patch(f"/api/accounts/{account.pk}", {"label": "x"},
                        content_type="application/json").status_code == 403
    assert client.delete(f"/api/accounts/{account.pk}").status_code == 403
    assert client.post(f"/api/accounts/{account.pk}/toggle").status_code == 403
    _grant(user, "accounts.change_account")
    assert client.patch(f"/api/accounts/{account.pk}", {"label": "x"},
                        content_type="application/json").status_code == 200
    assert client.delete(f"/api/accounts/{account.pk}").status_code == 403


def test_the_export_and_key_permissions_open_exactly_their_routes(bare_staff):
    client, user = bare_staff
    _grant(user, "accounts.export_secrets", "accounts.manage_api_keys")
    export = client.get("/api/config/export")
    assert export.status_code == 200 and export["X-Gempool-Contains-Secrets"] == "true"
    assert client.post("/api/keys", {"name": "ops"}, content_type="application/json").status_code == 201
    assert client.get("/api/keys").status_code == 403  # listing is view_apikey
    assert client.get("/api/config").status_code == 403


def test_superusers_keep_everything(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-root-1"))
    assert client.get("/api/config/export").status_code == 200
    assert client.post("/api/keys", {"name": "ops"}, content_type="application/json").status_code == 201


def test_admin_keys_keep_their_powers_but_not_the_export(client, admin_key):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {admin_key[1]}"}
    assert client.post("/api/keys", {"name": "ops"}, content_type="application/json", **auth).status_code == 201
    assert client.get("/api/config", **auth).status_code == 200
    assert client.get("/api/config/export", **auth).status_code == 403


def test_a_chat_key_on_the_management_api_is_told_it_is_not_an_admin_key(client, api_key):
    response = client.get("/api/accounts", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert response.status_code == 403
    error = response.json()["error"]
    assert "not an admin key" in error["message"] and "--admin" in error["message"]
