"""The OpenAI-compatible endpoints: parse, call one service, shape the answer."""
from __future__ import annotations

import time

from django.http import JsonResponse
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from gempool_site.exceptions import BadRequestError
from gempool_site.v1 import V1View, request_base_url, validated_data
from openai_api import images, responses, services
from openai_api.responses_api import face as responses_face
from openai_api.responses_api.plan import response_plan_build
from openai_api.responses_api.serializers import ResponseRequestSerializer
from openai_api.responses_api.store import stored_response_delete, stored_response_get
from openai_api.schema import chat_completions, create_image, create_response, edit_image, openai_json
from openai_api.serializers import parse_chat_request


class ModelListView(V1View):
    @openai_json("List the enabled models")
    def get(self, request: Request) -> Response:
        return Response(services.models_list())


class ModelDetailView(V1View):
    @openai_json("One enabled model")
    def get(self, request: Request, model_id: str) -> Response:
        return Response(services.model_detail(model_id=model_id))


class ChatCompletionsView(V1View):
    @chat_completions
    def post(self, request: Request):
        data = parse_chat_request(request.data)
        plan = services.chat_plan_build(data=data, api_key=request.auth,
                                        request_base_url=request_base_url(request))
        completion_id, created = f"chatcmpl-{plan.request_id}", int(time.time())
        if plan.stream:
            return responses.stream(plan, completion_id=completion_id, created=created)
        return responses.complete(plan, completion_id=completion_id, created=created)


class ResponsesView(V1View):
    @create_response
    def post(self, request: Request):
        data = validated_data(ResponseRequestSerializer, request.data)
        plan = response_plan_build(data=data, api_key=request.auth,
                                   request_base_url=request_base_url(request))
        if plan.run.stream:
            return responses_face.stream(plan)
        return responses_face.complete(plan)


class ResponseDetailView(V1View):
    @openai_json("A stored response (Responses API), for the key that created it")
    def get(self, request: Request, response_id: str) -> Response:
        return Response(stored_response_get(response_id=response_id, api_key=request.auth).body)

    @openai_json("Delete a stored response")
    def delete(self, request: Request, response_id: str) -> Response:
        return Response(stored_response_delete(response_id=response_id, api_key=request.auth))


class ImageGenerationsView(V1View):
    @create_image
    def post(self, request: Request) -> Response:
        parsed = images.image_request_parse(request.data)
        plan = images.images_plan_build(request=parsed, api_key=request.auth,
                                        request_base_url=request_base_url(request))
        return Response(images.images_create(plan=plan, request=parsed))


class ImageEditsView(V1View):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @edit_image
    def post(self, request: Request) -> Response:
        parsed = images.image_request_parse(request.data)
        uploads = request.FILES.getlist("image") or request.FILES.getlist("image[]")
        if not uploads:
            raise BadRequestError("Attach the image to edit as the multipart field 'image'.", param="image")
        stored = [images.image_upload_store(upload=upload, owner=request.auth, param="image")
                  for upload in uploads]
        plan = images.images_plan_build(request=parsed, api_key=request.auth,
                                        request_base_url=request_base_url(request), images=stored)
        return Response(images.images_create(plan=plan, request=parsed))


class StatusView(V1View):
    @openai_json("Pool counts (nothing secret)")
    def get(self, request: Request) -> Response:
        return Response(services.status_summary())


def health(request) -> JsonResponse:
    """Liveness for load balancers: "up" or "degraded" (no account available), 200 either way (the process is
    up). The pool counts are shown only with a valid API key, as on /v1/status."""
    summary = services.status_summary()
    if services.health_caller_has_key(authorization=request.headers.get("Authorization", "")):
        return JsonResponse(summary)
    return JsonResponse({"status": summary["status"]})
