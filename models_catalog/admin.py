from __future__ import annotations

from django import forms
from django.contrib import admin

from models_catalog.models import ModelAlias, ModelConfig
from models_catalog.services import aliases_problems


class ModelAliasForm(forms.ModelForm):
    class Meta:
        model = ModelAlias
        fields = ["alias"]

    def clean_alias(self) -> str:
        alias = self.cleaned_data["alias"].strip()
        problems = aliases_problems(model_id=self.instance.model_id or "", aliases=[alias])
        if problems:
            raise forms.ValidationError(problems)
        return alias


class ModelConfigForm(forms.ModelForm):
    class Meta:
        model = ModelConfig
        fields = "__all__"

    def clean_id(self) -> str:
        model_id = self.cleaned_data["id"]
        if ModelAlias.objects.filter(alias=model_id).exclude(model_id=self.instance.pk).exists():
            raise forms.ValidationError(f"{model_id!r} is already an alias of another model.")
        return model_id


class ModelAliasInline(admin.TabularInline):
    model = ModelAlias
    form = ModelAliasForm
    extra = 1
    verbose_name = "alias"
    verbose_name_plural = "aliases (other names clients may send; unique across every id and alias)"


@admin.register(ModelConfig)
class ModelConfigAdmin(admin.ModelAdmin):
    form = ModelConfigForm
    inlines = [ModelAliasInline]
    list_display = ["id", "name", "upstream_model_id", "capability_list", "alias_list", "enabled", "sort_order"]
    list_editable = ["enabled", "sort_order"]
    list_filter = ["enabled", "image_generation", "video_generation", "web_grounding"]
    search_fields = ["id", "name", "upstream_model_id", "alias_rows__alias"]
    actions = ["enable_models", "disable_models"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("alias_rows")

    @admin.display(description="aliases")
    def alias_list(self, obj: ModelConfig) -> str:
        return ", ".join(obj.aliases)

    @admin.display(description="capabilities")
    def capability_list(self, obj: ModelConfig) -> str:
        return ", ".join(obj.capabilities)

    @admin.action(description="Enable selected models")
    def enable_models(self, request, queryset) -> None:
        queryset.update(enabled=True)

    @admin.action(description="Disable selected models")
    def disable_models(self, request, queryset) -> None:
        queryset.update(enabled=False)
