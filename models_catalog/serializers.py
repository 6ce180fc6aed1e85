"""Request and response shapes of /api/models."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from models_catalog.models import ModelConfig


class ModelConfigSerializer(serializers.ModelSerializer):
    capabilities = serializers.ListField(child=serializers.CharField(), read_only=True)
    aliases = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=50,
                                    help_text="Other names clients may send as `model` (unique across every id "
                                              "and alias).")
    context_length = serializers.IntegerField(min_value=1, max_value=100_000_000, required=False)
    max_tokens = serializers.IntegerField(min_value=1, max_value=100_000_000, required=False)
    sort_order = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000, required=False)
    price_per_1k_tokens = serializers.DecimalField(max_digits=12, decimal_places=6, min_value=0, required=False,
                                                   coerce_to_string=False)

    class Meta:
        model = ModelConfig
        fields = ["id", "name", "description", "context_length", "max_tokens", "price_per_1k_tokens",
                  "upstream_model_id", "supports_text", "image_generation", "video_generation", "web_grounding",
                  "capabilities", "aliases", "enabled", "sort_order", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"id": {"validators": [UniqueValidator(ModelConfig.objects.all(),
                                                              message="A model with this id already exists.")]}}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            # The id is what clients send as `model`; renaming would silently break them.
            self.fields["id"].read_only = True

    def validate_aliases(self, value: list[str]) -> list[str]:
        from models_catalog.services import aliases_problems

        aliases = [alias.strip() for alias in value]
        model_id = self.instance.id if self.instance is not None else str(self.initial_data.get("id", "")).strip()
        problems = aliases_problems(model_id=model_id, aliases=aliases)
        if problems:
            raise serializers.ValidationError(problems)
        return aliases

    def validate_id(self, value: str) -> str:
        from models_catalog.models import model_id_validator

        value = value.strip()
        model_id_validator(value)
        return value
