"""The model catalogue: the names clients send, mapped to an upstream model id and tools."""
from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

model_id_validator = RegexValidator(
    r"^[^\x00-\x1f\x7f/]{1,100}$", "A model id is 1-100 printable characters without '/'.")


class ModelConfig(models.Model):
    """One entry of /v1/models."""

    id = models.CharField(primary_key=True, max_length=100, validators=[model_id_validator],
                          help_text="The name clients send as `model`.")
    name = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(blank=True, default="")
    context_length = models.PositiveIntegerField(default=32768)
    max_tokens = models.PositiveIntegerField(default=8192)
    price_per_1k_tokens = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    upstream_model_id = models.CharField(max_length=100, blank=True, default="",
                                         help_text="Blank: let the upstream choose (auto).")
    supports_text = models.BooleanField(default=True)
    image_generation = models.BooleanField(default=False)
    video_generation = models.BooleanField(default=False)
    web_grounding = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "id"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.id

    @property
    def aliases(self) -> list[str]:
        """Other names clients may send for this model, sorted (prefetch `alias_rows` when listing)."""
        return sorted(row.alias for row in self.alias_rows.all())

    @property
    def capabilities(self) -> list[str]:
        """The capability names, in a fixed order."""
        flags = [("text", self.supports_text), ("image_generation", self.image_generation),
                 ("video_generation", self.video_generation), ("web_grounding", self.web_grounding)]
        return [name for name, on in flags if on]


class ModelAlias(models.Model):
    """Another name for a catalogue model (`claude-sonnet-4-5` -> `gemini-2.5-pro`). Unique among aliases by
    its key; models_catalog.services.aliases_check keeps it distinct from every model id too."""

    alias = models.CharField(primary_key=True, max_length=100, validators=[model_id_validator])
    model = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="alias_rows")

    class Meta:
        ordering = ["alias"]
        verbose_name = "model alias"
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return f"{self.alias} -> {self.model_id}"
