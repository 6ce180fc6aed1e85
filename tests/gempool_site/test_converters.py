"""Database ids in URLs: an id past a 64-bit column is a 404 before any view or query runs."""
from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve, reverse

HUGE = "9" * 19  # past 2**63 - 1


@pytest.mark.parametrize("path", [f"/api/accounts/{HUGE}", f"/api/accounts/{HUGE}/login",
                                  f"/api/accounts/{HUGE}/cookies", f"/api/mailboxes/{HUGE}",
                                  f"/api/refresh/jobs/{HUGE}/screenshot", f"/api/keys/{HUGE}/revoke"])
def test_an_id_too_large_for_the_database_matches_no_route(path):
    with pytest.raises(Resolver404):
        resolve(path)


def test_an_id_at_the_largest_allowed_length_still_routes():
    largest = int("9" * 18)
    assert resolve(reverse("api-account-login", kwargs={"pk": largest})).kwargs == {"pk": largest}


@pytest.mark.django_db
def test_an_oversized_id_gets_the_json_404_envelope(admin_client):
    response = admin_client.get(f"/api/accounts/{HUGE}/login")
    assert response.status_code == 404 and response.json()["error"]["message"]
