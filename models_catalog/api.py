"""/api/models: the model catalogue (admin key, or a staff session with the model's Django permissions)."""
from __future__ import annotations

import logging

from rest_framework import generics

from gempool_site.auth import crud_permissions
from models_catalog import services
from models_catalog.models import ModelConfig
from models_catalog.serializers import ModelConfigSerializer

logger = logging.getLogger(__name__)
MODEL_PERMISSIONS = crud_permissions("models_catalog", "modelconfig")


# Generic views: DRF parses, validates and renders; the hooks hand each write to the service.
class ModelListView(generics.ListCreateAPIView):
    required_permissions = MODEL_PERMISSIONS
    queryset = ModelConfig.objects.order_by("sort_order", "id").prefetch_related("alias_rows")
    serializer_class = ModelConfigSerializer

    def perform_create(self, serializer: ModelConfigSerializer) -> None:
        serializer.instance = services.model_create(data=serializer.validated_data)
        logger.info("model created", extra={"model": serializer.instance.id})


class ModelDetailView(generics.RetrieveUpdateDestroyAPIView):
    required_permissions = MODEL_PERMISSIONS
    queryset = ModelConfig.objects.all()
    serializer_class = ModelConfigSerializer
    lookup_url_kwarg = "model_id"

    def perform_update(self, serializer: ModelConfigSerializer) -> None:
        serializer.instance = services.model_update(model=serializer.instance, data=serializer.validated_data)
        logger.info("model updated", extra={"model": serializer.instance.id})

    def perform_destroy(self, instance: ModelConfig) -> None:
        model_id = instance.id
        services.model_delete(model=instance)
        logger.info("model deleted", extra={"model": model_id})
