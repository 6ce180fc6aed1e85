"""/api/models: catalogue CRUD, validation and access."""
from __future__ import annotations

import json

import pytest

from models_catalog.models import ModelConfig

pytestmark = pytest.mark.django_db


def send(client, method: str, url: str, body: dict, **extra):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **extra)


def test_the_seeded_catalogue_is_listed_in_order(staff_client):
    data = staff_client.get("/api/models").json()
    expected = ModelConfig.objects.order_by("sort_order", "id").values_list("id", flat=True)
    assert [m["id"] for m in data] == list(expected)
    assert "text" in data[0]["capabilities"]


def test_a_created_model_is_stored_with_its_capabilities(staff_client):
    response = send(staff_client, "post", "/api/models", {"id": "team-fast", "name": "Fast", "max_tokens": 4096,
                                                          "upstream_model_id": "gemini-2.5-flash",
                                                          "image_generation": True, "price_per_1k_tokens": 0.5})
    assert response.status_code == 201, response.content
    model = ModelConfig.objects.get(id="team-fast")
    assert (model.max_tokens, model.image_generation, float(model.price_per_1k_tokens)) == (4096, True, 0.5)
    assert response.json()["capabilities"] == ["text", "image_generation", "web_grounding"]


@pytest.mark.parametrize(("body", "field"), [
    ({"id": "a/b"}, "id"),
    ({"id": ""}, "id"),
    ({"id": "gemini-2.5-flash"}, "id"),  # already seeded
    ({"id": "ok", "max_tokens": 0}, "max_tokens"),
    ({"id": "ok", "context_length": "lots"}, "context_length"),
    ({"id": "ok", "price_per_1k_tokens": -1}, "price_per_1k_tokens"),
])
def test_a_bad_model_is_a_400_naming_its_field(staff_client, body, field):
    response = send(staff_client, "post", "/api/models", body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_put_and_patch_update_but_never_rename(staff_client):
    url = "/api/models/gemini-2.5-pro"
    current = staff_client.get(url).json()
    current.update(name="Pro (team)", enabled=False, id="renamed")
    response = send(staff_client, "put", url, current)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == "gemini-2.5-pro" and response.json()["name"] == "Pro (team)"
    assert send(staff_client, "patch", url, {"sort_order": 99}).json()["sort_order"] == 99
    model = ModelConfig.objects.get(id="gemini-2.5-pro")
    assert (model.enabled, model.sort_order) == (False, 99)
    assert not ModelConfig.objects.filter(id="renamed").exists()


def test_a_deleted_model_is_a_404_afterwards(staff_client):
    assert staff_client.delete("/api/models/gemini-veo").status_code == 204
    response = staff_client.get("/api/models/gemini-veo")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_model_ids_with_dots_and_colons_route(staff_client):
    send(staff_client, "post", "/api/models", {"id": "vendor:model.v1"})
    assert staff_client.get("/api/models/vendor:model.v1").status_code == 200


def test_access_needs_staff_or_an_admin_key(client, admin_key, api_key):
    assert client.get("/api/models").status_code in (401, 403)
    assert send(client, "post", "/api/models", {"id": "x"}).status_code in (401, 403)
    assert client.get("/api/models", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").status_code in (401, 403)
    response = send(client, "post", "/api/models", {"id": "by-key"}, HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}")
    assert response.status_code == 201
