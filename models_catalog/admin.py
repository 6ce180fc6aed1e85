from __future__ import annotations

from django.contrib import admin

from models_catalog.models import ModelConfig


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "upstream_model_id", "capability_list", "enabled", "sort_order"]
    list_editable = ["enabled", "sort_order"]
    list_filter = ["enabled", "image_generation", "video_generation", "web_grounding"]
    search_fields = ["id", "name", "upstream_model_id"]
    actions = ["enable_models", "disable_models"]

    @admin.display(description="capabilities")
    def capability_list(self, obj: ModelConfig) -> str:
        return ", ".join(obj.capabilities)

    @admin.action(description="Enable selected models")
    def enable_models(self, request, queryset) -> None:
        queryset.update(enabled=True)

    @admin.action(description="Disable selected models")
    def disable_models(self, request, queryset) -> None:
        queryset.update(enabled=False)
