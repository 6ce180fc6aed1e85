"""Seed a useful catalogue: the original default plus the upstream model ids in use (chat, image and video)."""
from __future__ import annotations

from django.db import migrations

CATALOGUE = [
    ("gemini-enterprise", "Gemini Enterprise (auto)", "", "The upstream picks the model; the original tool's "
     "default name.", 1048576, 65536, {"web_grounding": True}),
    ("gemini-2.5-flash", "Gemini 2.5 Flash", "gemini-2.5-flash", "Fast general model.", 1048576, 65536,
     {"web_grounding": True}),
    ("gemini-2.5-pro", "Gemini 2.5 Pro", "gemini-2.5-pro", "Strong reasoning model.", 1048576, 65536,
     {"web_grounding": True}),
    ("gemini-3-flash-preview", "Gemini 3 Flash (preview)", "gemini-3-flash-preview", "Fast Gemini 3 model.",
     1048576, 65536, {"web_grounding": True}),
    ("gemini-3-pro-preview", "Gemini 3 Pro (preview)", "gemini-3-pro-preview", "Gemini 3 Pro.", 1048576, 65536,
     {"web_grounding": True}),
    ("gemini-3.1-pro-preview", "Gemini 3.1 Pro (preview)", "gemini-3.1-pro-preview", "Gemini 3.1 Pro.",
     1048576, 65536, {"web_grounding": True}),
    ("gemini-imagen", "Gemini image generation", "", "Generates images (upstream image tool only); answers "
     "link to /image/.", 32768, 8192, {"image_generation": True, "supports_text": False,
                                       "web_grounding": False}),
    ("gemini-veo", "Gemini video generation", "", "Generates short videos (upstream video tool only); answers "
     "link to /image/.", 32768, 8192, {"video_generation": True, "supports_text": False,
                                       "web_grounding": False}),
]


def seed(apps, schema_editor) -> None:
    ModelConfig = apps.get_model("models_catalog", "ModelConfig")
    for position, (model_id, name, upstream, description, context, max_tokens, flags) in enumerate(CATALOGUE):
        ModelConfig.objects.get_or_create(id=model_id, defaults={
            "name": name, "upstream_model_id": upstream, "description": description,
            "context_length": context, "max_tokens": max_tokens, "sort_order": position, **flags,
        })


def unseed(apps, schema_editor) -> None:
    apps.get_model("models_catalog", "ModelConfig").objects.filter(id__in=[row[0] for row in CATALOGUE]).delete()


class Migration(migrations.Migration):
    dependencies = [("models_catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
