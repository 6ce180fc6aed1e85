"""Model catalogue operations used by the API, the console and the config import."""
from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from gempool_site import hot_rows, rawsql
from gempool_site.exceptions import BadRequestError
from models_catalog.models import ModelAlias, ModelConfig, model_id_validator

MODEL_ROWS = rawsql.ModelRows(ModelConfig)  # resolved on every request: plain SQL (see rawsql)
_BY_NAME = (f"enabled = %s AND (id = %s OR id IN (SELECT model_id FROM {ModelAlias._meta.db_table} "
            "WHERE alias = %s))")

MODEL_FIELDS = ("id", "name", "description", "context_length", "max_tokens", "price_per_1k_tokens",
                "upstream_model_id", "supports_text", "image_generation", "video_generation", "web_grounding",
                "enabled", "sort_order")


def model_lookup(*, name: str) -> ModelConfig | None:
    """The enabled model that `name` is the id or an alias of (one query, or none while the answer is
    kept: gempool_site.hot_rows), or None. Read-only."""
    return hot_rows.MODELS.get(name, lambda: MODEL_ROWS.fetch_one(_BY_NAME, [True, name, name]))


def models_enabled() -> list[ModelConfig]:
    """The enabled models in catalogue order, their aliases prefetched."""
    return list(ModelConfig.objects.filter(enabled=True).order_by("sort_order", "id")
                .prefetch_related("alias_rows"))


def enabled_names() -> list[str]:
    """Every name clients may send: the enabled ids, then their aliases, in catalogue order."""
    models = models_enabled()
    return [m.id for m in models] + [alias for m in models for alias in m.aliases]


def aliases_problems(*, model_id: str, aliases: Iterable[str]) -> list[str]:
    """Why these aliases cannot belong to `model_id` (empty when they can): each a valid name, given once,
    neither a model id nor another model's alias. Names are compared as sent (case matters, as for ids)."""
    problems, seen = [], set()
    for alias in aliases:
        try:
            model_id_validator(alias)
        except ValidationError:
            problems.append(f"{alias!r} is not a valid name (1-100 printable characters without '/').")
            continue
        if alias in seen:
            problems.append(f"{alias!r} is listed twice.")
        seen.add(alias)
    if model_id in seen:
        problems.append(f"{model_id!r} is the model's own id.")
    clashes = set(ModelConfig.objects.filter(pk__in=seen).exclude(pk=model_id).values_list("pk", flat=True))
    problems += [f"{alias!r} is already the id of a model." for alias in sorted(clashes)]
    taken = ModelAlias.objects.filter(alias__in=seen).exclude(model_id=model_id).values_list("alias", "model_id")
    problems += [f"{alias!r} is already an alias of {owner!r}." for alias, owner in sorted(taken)]
    return problems


def model_aliases_set(*, model: ModelConfig, aliases: list[str]) -> None:
    """Replace the model's aliases; refuses (400, param `aliases`) names that clash with ids or aliases."""
    problems = aliases_problems(model_id=model.id, aliases=aliases)
    if problems:
        raise BadRequestError("Invalid aliases: " + " ".join(problems), param="aliases", code="invalid_alias")
    with transaction.atomic():
        ModelAlias.objects.filter(model=model).delete()
        ModelAlias.objects.bulk_create([ModelAlias(alias=alias, model=model) for alias in aliases])
        hot_rows.MODELS.clear()  # bulk_create sends no signal


def model_create(*, data: dict) -> ModelConfig:
    """Add a catalogue entry; an id already in use (as an id or an alias) is refused with a 400."""
    model = ModelConfig(**{name: data[name] for name in MODEL_FIELDS if name in data})
    if ModelAlias.objects.filter(alias=model.id).exists():
        raise BadRequestError(f"{model.id!r} is already an alias of another model.", param="id",
                             code="duplicate_model")
    try:
        with transaction.atomic():
            # force_insert: with a natural primary key, save() would otherwise overwrite an existing row.
            model.save(force_insert=True)
            if "aliases" in data:
                model_aliases_set(model=model, aliases=data["aliases"])
    except IntegrityError:
        raise BadRequestError(f"A model with id {model.id!r} already exists.", param="id",
                             code="duplicate_model") from None
    return model


def model_update(*, model: ModelConfig, data: dict) -> ModelConfig:
    """Change the given fields; the id is the name clients use and cannot change (create a new entry)."""
    changed = [name for name in MODEL_FIELDS if name != "id" and name in data]
    for name in changed:
        setattr(model, name, data[name])
    with transaction.atomic():
        model.save(update_fields=[*changed, "updated_at"])
        if "aliases" in data:
            model_aliases_set(model=model, aliases=data["aliases"])
    return model


def model_delete(*, model: ModelConfig) -> None:
    """Remove a catalogue entry (and its aliases); clients asking for it then get model_not_found."""
    model.delete()
