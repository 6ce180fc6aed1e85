"""The OpenAI-compatible endpoints: parse, call one service, shape the answer."""
from __future__ import annotations

import time

from django.http import JsonResponse
from rest_framework.request import Request
from rest_framework.response import Response

from gempool_site.v1 import V1View
from openai_api import responses, services
from openai_api.schema import chat_completions, openai_json
from openai_api.serializers import ChatCompletionRequestSerializer


class ModelListView(V1View):
    @openai_json("List the enabled models")
    def get(self, request: Request) -> Response:
        return Response(services.models_list())


class ModelDetailView(V1View):
    @openai_json("One enabled model")
    def get(self, request: Request, model_id: str) -> Response:
        return Response(services.model_as_openai(services.model_resolve(model_id=model_id)))


class ChatCompletionsView(V1View):
    @chat_completions
    def post(self, request: Request):
        serializer = ChatCompletionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = services.chat_plan_build(data=serializer.validated_data, api_key=request.auth,
                                        request_base_url=request.build_absolute_uri("/"))
        completion_id, created = f"chatcmpl-{plan.request_id}", int(time.time())
        if plan.stream:
            return responses.stream(plan, completion_id=completion_id, created=created)
        return responses.complete(plan, completion_id=completion_id, created=created)


class StatusView(V1View):
    @openai_json("Pool counts (nothing secret)")
    def get(self, request: Request) -> Response:
        return Response(services.status_summary())


def health(request) -> JsonResponse:
    """Liveness and pool counts, open to load balancers; 200 even when degraded (the process is up)."""
    return JsonResponse(services.status_summary())
