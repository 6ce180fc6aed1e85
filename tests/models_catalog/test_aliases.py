"""Model aliases: other names for a catalogue model, unique across every id and alias, kept by the API,
the admin and config import/export; served by /v1 (and the pool's default model for unknown names)."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import PoolSettings
from models_catalog.models import ModelAlias, ModelConfig

pytestmark = pytest.mark.django_db


def send(client, method: str, url: str, body: dict, **extra):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **extra)


def v1(client, raw_key: str, method: str, url: str, body: dict | None = None):
    return getattr(client, method)(url, data=json.dumps(body) if body else None, content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def _aliases(model_id: str) -> list[str]:
    return ModelConfig.objects.get(id=model_id).aliases


def test_the_api_sets_lists_and_replaces_aliases(staff_client):
    created = send(staff_client, "post", "/api/models", {"id": "team-pro", "upstream_model_id": "gemini-2.5-pro",
                                                         "aliases": ["claude-sonnet-4-5", " gpt-4o "]})
    assert created.status_code == 201, created.content
    assert created.json()["aliases"] == ["claude-sonnet-4-5", "gpt-4o"]
    listed = {m["id"]: m["aliases"] for m in staff_client.get("/api/models").json()}
    assert listed["team-pro"] == ["claude-sonnet-4-5", "gpt-4o"] and listed["gemini-2.5-flash"] == []
    changed = send(staff_client, "patch", "/api/models/team-pro", {"aliases": ["claude-opus-4-1"]})
    assert changed.status_code == 200 and changed.json()["aliases"] == ["claude-opus-4-1"]
    assert _aliases("team-pro") == ["claude-opus-4-1"]
    assert send(staff_client, "patch", "/api/models/team-pro", {"name": "Pro"}).json()["aliases"] == \
        ["claude-opus-4-1"]  # a change that does not mention aliases keeps them
    staff_client.delete("/api/models/team-pro")
    assert not ModelAlias.objects.exists()


@pytest.mark.parametrize("aliases,needle", [
    (["gemini-2.5-pro"], "already the id of a model"),
    (["taken"], "already an alias of 'gemini-2.5-pro'"),
    (["twice", "twice"], "listed twice"),
    (["gemini-2.5-flash"], "own id"),
    (["a/b"], "not a valid name"),
])
def test_the_api_refuses_aliases_that_clash_with_clear_errors(staff_client, aliases, needle):
    ModelAlias.objects.create(alias="taken", model_id="gemini-2.5-pro")
    response = send(staff_client, "patch", "/api/models/gemini-2.5-flash", {"aliases": aliases})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "aliases" and needle in response.json()["error"]["message"]
    assert _aliases("gemini-2.5-flash") == []


def test_a_new_model_id_may_not_be_an_existing_alias(staff_client):
    ModelAlias.objects.create(alias="gpt-4o", model_id="gemini-2.5-pro")
    response = send(staff_client, "post", "/api/models", {"id": "gpt-4o"})
    assert response.status_code == 400 and "alias" in response.json()["error"]["message"]
    assert not ModelConfig.objects.filter(id="gpt-4o").exists()


def test_v1_serves_aliases_as_models_and_still_refuses_unknown_names(client, api_key):
    ModelAlias.objects.create(alias="claude-sonnet-4-5", model_id="gemini-2.5-pro")
    listed = v1(client, api_key[1], "get", "/v1/models").json()["data"]
    entry = next(m for m in listed if m["id"] == "claude-sonnet-4-5")
    assert entry["alias_for"] == "gemini-2.5-pro" and entry["object"] == "model"
    assert "alias_for" not in next(m for m in listed if m["id"] == "gemini-2.5-pro")
    assert v1(client, api_key[1], "get", "/v1/models/claude-sonnet-4-5").json()["alias_for"] == "gemini-2.5-pro"
    pro = ModelConfig.objects.get(id="gemini-2.5-pro")
    pro.enabled = False
    pro.save()  # as the console and /api do: the save also drops the kept lookups (gempool_site.hot_rows)
    assert "claude-sonnet-4-5" not in [m["id"] for m in v1(client, api_key[1], "get", "/v1/models").json()["data"]]
    missing = v1(client, api_key[1], "post", "/v1/chat/completions",
                 {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_resolution_by_alias_and_the_default_model_for_unknown_names():
    from openai_api.services import model_resolve

    ModelAlias.objects.create(alias="gpt-4o", model_id="gemini-2.5-pro")
    assert model_resolve(model_id="gpt-4o").id == "gemini-2.5-pro"
    assert model_resolve(model_id="gemini-2.5-flash").id == "gemini-2.5-flash"
    with pytest.raises(Exception) as raised:
        model_resolve(model_id="claude-3-5-haiku-20241022")
    assert raised.value.code == "model_not_found" and "gpt-4o" in raised.value.message  # aliases are listed
    PoolSettings.objects.update_or_create(pk=1, defaults={"default_model": "gpt-4o"})
    assert model_resolve(model_id="claude-3-5-haiku-20241022").id == "gemini-2.5-pro"


def test_the_default_model_setting_is_validated_and_off_by_default(staff_client):
    assert staff_client.get("/api/config").json()["default_model"] == ""
    refused = send(staff_client, "put", "/api/config", {"default_model": "no-such-model"})
    assert refused.status_code == 400 and "default_model" in refused.json()["error"]["fields"]
    ModelAlias.objects.create(alias="gpt-4o", model_id="gemini-2.5-pro")
    for name in ("gemini-2.5-flash", "gpt-4o", ""):
        saved = send(staff_client, "put", "/api/config", {"default_model": name})
        assert saved.status_code == 200 and saved.json()["default_model"] == name


# ---- config import / export ------------------------------------------------------------------------


def _export() -> str:
    out = io.StringIO()
    call_command("exportconfig", stdout=out)
    return out.getvalue()


def _import(tmp_path, document: dict | str) -> None:
    path = tmp_path / "config.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    call_command("importconfig", str(path), stdout=io.StringIO())


def test_aliases_and_the_default_model_survive_export_import_export_byte_identical(tmp_path):
    ModelAlias.objects.create(alias="gpt-4o", model_id="gemini-2.5-pro")
    ModelAlias.objects.create(alias="claude-sonnet-4-5", model_id="gemini-2.5-pro")
    PoolSettings.objects.update_or_create(pk=1, defaults={"default_model": "gemini-2.5-flash"})
    first = _export()
    document = json.loads(first)
    assert document["default_model"] == "gemini-2.5-flash"
    assert next(m for m in document["models"] if m["id"] == "gemini-2.5-pro")["aliases"] == \
        ["claude-sonnet-4-5", "gpt-4o"]
    ModelAlias.objects.all().delete()
    PoolSettings.objects.filter(pk=1).update(default_model="")
    _import(tmp_path, first)
    assert _aliases("gemini-2.5-pro") == ["claude-sonnet-4-5", "gpt-4o"]
    assert _export() == first


def test_a_file_without_aliases_keeps_the_stored_ones(tmp_path):
    ModelAlias.objects.create(alias="gpt-4o", model_id="gemini-2.5-pro")
    _import(tmp_path, {"models": [{"id": "gemini-2.5-pro", "upstream_model_id": "gemini-2.5-pro"}]})
    assert _aliases("gemini-2.5-pro") == ["gpt-4o"]


def test_aliases_may_move_between_models_in_one_import(tmp_path):
    ModelAlias.objects.create(alias="gpt-4o", model_id="gemini-2.5-pro")
    _import(tmp_path, {"models": [{"id": "gemini-2.5-pro", "aliases": []},
                                  {"id": "gemini-2.5-flash", "aliases": ["gpt-4o"]}]})
    assert _aliases("gemini-2.5-flash") == ["gpt-4o"] and _aliases("gemini-2.5-pro") == []


@pytest.mark.parametrize("document,needle", [
    ({"models": [{"id": "a", "aliases": ["b"]}, {"id": "b"}]}, "models[0].aliases[0]: 'b' is already used as "
                                                               "models[1].id"),
    ({"models": [{"id": "a", "aliases": ["x"]}, {"id": "c", "aliases": ["x"]}]}, "models[1].aliases[0]"),
    ({"models": [{"id": "a", "aliases": ["gemini-2.5-pro"]}]}, "already the id of a model"),
    ({"models": [{"id": "a", "aliases": ["kept"]}]}, "already an alias of 'gemini-2.5-pro'"),
    ({"default_model": "nothing-like-it"}, "default_model"),
    ({"models": [{"id": "kept"}]}, "models[0].id: 'kept' is already an alias of 'gemini-2.5-pro'"),
    ({"models": [{"id": "a", "aliases": [7]}]}, "models[0].aliases"),
])
def test_bad_aliases_in_a_config_name_the_row_and_change_nothing(tmp_path, document, needle):
    ModelAlias.objects.create(alias="kept", model_id="gemini-2.5-pro")
    before = _export()
    with pytest.raises(CommandError) as raised:
        _import(tmp_path, document)
    assert needle in str(raised.value)
    assert _export() == before


def _admin_form(model: ModelConfig, aliases: list[str]) -> dict:
    form = {field: getattr(model, field) for field in ("id", "name", "description", "context_length", "max_tokens",
                                                       "price_per_1k_tokens", "upstream_model_id", "sort_order")}
    form.update({flag: "on" for flag in ("supports_text", "web_grounding", "enabled") if getattr(model, flag)})
    form.update({"alias_rows-TOTAL_FORMS": str(len(aliases)), "alias_rows-INITIAL_FORMS": "0",
                 "alias_rows-MIN_NUM_FORMS": "0", "alias_rows-MAX_NUM_FORMS": "1000"})
    for index, alias in enumerate(aliases):
        form.update({f"alias_rows-{index}-alias": alias, f"alias_rows-{index}-model": model.id})
    return form


def test_the_admin_edits_aliases_inline_and_refuses_clashes(admin_client):
    model = ModelConfig.objects.get(id="gemini-2.5-flash")
    url = f"/admin/models_catalog/modelconfig/{model.id}/change/"
    saved = admin_client.post(url, _admin_form(model, ["gpt-4o-mini"]))
    assert saved.status_code == 302, saved.content[:2000]
    assert _aliases("gemini-2.5-flash") == ["gpt-4o-mini"]
    refused = admin_client.post(url, _admin_form(model, ["gemini-2.5-pro"]))
    assert refused.status_code == 200 and b"already the id of a model" in refused.content
    assert not ModelAlias.objects.filter(alias="gemini-2.5-pro").exists()
    listing = admin_client.get("/admin/models_catalog/modelconfig/?q=gpt-4o-mini")
    assert b"gemini-2.5-flash" in listing.content
