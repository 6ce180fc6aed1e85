from __future__ import annotations

from django.apps import AppConfig


class AnthropicApiConfig(AppConfig):
    name = "anthropic_api"
    verbose_name = "Anthropic-compatible API"
