"""Model catalogue operations used by the API and the console."""
from __future__ import annotations

from django.db import IntegrityError, transaction

from gempool_site.exceptions import BadRequestError
from models_catalog.models import ModelConfig

MODEL_FIELDS = ("id", "name", "description", "context_length", "max_tokens", "price_per_1k_tokens",
                "upstream_model_id", "supports_text", "image_generation", "video_generation", "web_grounding",
                "enabled", "sort_order")


def model_create(*, data: dict) -> ModelConfig:
    """Add a catalogue entry; an id already in use is refused with a 400."""
    model = ModelConfig(**{name: data[name] for name in MODEL_FIELDS if name in data})
    try:
        with transaction.atomic():
            # force_insert: with a natural primary key, save() would otherwise overwrite an existing row.
            model.save(force_insert=True)
    except IntegrityError:
        raise BadRequestError(f"A model with id {model.id!r} already exists.", param="id",
                             code="duplicate_model") from None
    return model


def model_update(*, model: ModelConfig, data: dict) -> ModelConfig:
    """Change the given fields; the id is the name clients use and cannot change (create a new entry)."""
    changed = [name for name in MODEL_FIELDS if name != "id" and name in data]
    for name in changed:
        setattr(model, name, data[name])
    model.save(update_fields=[*changed, "updated_at"])
    return model


def model_delete(*, model: ModelConfig) -> None:
    """Remove a catalogue entry; clients asking for it then get model_not_found."""
    model.delete()
