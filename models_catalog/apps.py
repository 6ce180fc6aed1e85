from __future__ import annotations

from django.apps import AppConfig


class ModelsCatalogConfig(AppConfig):
    name = "models_catalog"
    verbose_name = "Model catalogue"

    def ready(self) -> None:
        from gempool_site import hot_rows
        from models_catalog.models import ModelAlias, ModelConfig

        hot_rows.connect(hot_rows.MODELS, ModelConfig, ModelAlias)
