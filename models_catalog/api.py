"""/api/models: the model catalogue (admin key, or a staff session with the model's Django permissions)."""
from __future__ import annotations

import logging

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gempool_site.auth import crud_permissions
from models_catalog import services
from models_catalog.models import ModelConfig
from models_catalog.serializers import ModelConfigSerializer

logger = logging.getLogger(__name__)
MODEL_PERMISSIONS = crud_permissions("models_catalog", "modelconfig")


class ModelListView(APIView):
    required_permissions = MODEL_PERMISSIONS
    serializer_class = ModelConfigSerializer

    @extend_schema(responses=ModelConfigSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ModelConfigSerializer(ModelConfig.objects.order_by("sort_order", "id"), many=True).data)

    @extend_schema(request=ModelConfigSerializer, responses={201: ModelConfigSerializer})
    def post(self, request: Request) -> Response:
        serializer = ModelConfigSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        model = services.model_create(data=serializer.validated_data)
        logger.info("model created", extra={"model": model.id})
        return Response(ModelConfigSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailView(APIView):
    required_permissions = MODEL_PERMISSIONS
    serializer_class = ModelConfigSerializer

    def get(self, request: Request, model_id: str) -> Response:
        return Response(ModelConfigSerializer(get_object_or_404(ModelConfig, pk=model_id)).data)

    def put(self, request: Request, model_id: str) -> Response:
        return self._update(request, model_id, partial=False)

    def patch(self, request: Request, model_id: str) -> Response:
        return self._update(request, model_id, partial=True)

    def _update(self, request: Request, model_id: str, *, partial: bool) -> Response:
        model = get_object_or_404(ModelConfig, pk=model_id)
        serializer = ModelConfigSerializer(model, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        model = services.model_update(model=model, data=serializer.validated_data)
        logger.info("model updated", extra={"model": model.id})
        return Response(ModelConfigSerializer(model).data)

    def delete(self, request: Request, model_id: str) -> Response:
        services.model_delete(model=get_object_or_404(ModelConfig, pk=model_id))
        logger.info("model deleted", extra={"model": model_id})
        return Response(status=status.HTTP_204_NO_CONTENT)
