"""POST /v1/images/generations and /v1/images/edits: an image-capable model, one run per image asked for.

Each image is one run on the shared engine whose plan requires media: it fails over like a chat answer,
moves to another account when an answer came without an image, and waits (within a deadline) for images
the upstream lists only after the answer ended. The OpenAI envelope carries links (url) or the bytes
(b64_json).
"""
from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from accounts.key_limits import key_admit, key_check_model
from accounts.models import ApiKey
from accounts.upstream import pool_settings_get
from files_app import content_types
from files_app import services as files
from files_app.models import GeneratedMedia, StoredFile
from gemini_enterprise.types import ToolsSpec
from gempool_site.exceptions import BadRequestError
from metering.records import prompt_excerpt
from models_catalog.models import ModelConfig
from models_catalog.services import model_lookup
from openai_api.chat import ChatPlan, ChatRun, new_request_id
from openai_api.responses import RunFailed
from openai_api.run_events import Failed, MediaReady

MAX_IMAGES = 4  # each image is a whole upstream answer (tens of seconds): more is better asked separately
RESPONSE_FORMATS = ("url", "b64_json")
IMAGE_TOOLS = ToolsSpec(web_grounding=False, image_generation=True, video_generation=False)


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    model: str | None = None
    n: int = 1
    size: str | None = None
    response_format: str = "url"


def image_request_parse(data: Any) -> ImageRequest:
    """The fields gempool acts on (quality, style, user, ... are accepted and ignored); errors name the param.
    Multipart bodies (edits) carry every value as text."""
    prompt = _text(data.get("prompt"), "prompt", required=True)
    n = data.get("n", 1)
    if isinstance(n, str) and n.strip().isdigit():
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise BadRequestError(f"n must be a whole number from 1 to {MAX_IMAGES}.", param="n")
    response_format = _text(data.get("response_format"), "response_format") or "url"
    if response_format not in RESPONSE_FORMATS:
        raise BadRequestError("response_format must be 'url' or 'b64_json'.", param="response_format")
    size = _text(data.get("size"), "size")
    if size and size != "auto" and not _is_size(size):
        raise BadRequestError("size must be WIDTHxHEIGHT (e.g. 1024x1024) or auto.", param="size")
    return ImageRequest(prompt=prompt, model=_text(data.get("model"), "model"), n=n, size=size,
                        response_format=response_format)


def _text(value: Any, param: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise BadRequestError(f"{param} is required.", param=param)
        return None
    if not isinstance(value, str):
        raise BadRequestError(f"{param} must be a string.", param=param)
    return value.strip()


def _is_size(size: str) -> bool:
    width, _, height = size.partition("x")
    return width.isdigit() and height.isdigit() and 0 < int(width) <= 8192 and 0 < int(height) <= 8192


def image_model_resolve(*, name: str | None) -> ModelConfig:
    """The model named (id or alias) when it can make images; for names gempool does not know (clients send
    dall-e-3 or gpt-image-1), the first enabled image-capable model of the catalogue."""
    model = model_lookup(name=name) if name else None
    if model is not None and not model.image_generation:
        raise BadRequestError(f"The model {name!r} cannot generate images; use one with image_generation "
                             f"({', '.join(_image_model_ids()) or 'none is enabled'}).", param="model",
                             code="model_not_supported")
    model = model or ModelConfig.objects.filter(enabled=True, image_generation=True).order_by(
        "sort_order", "id").first()
    if model is None:
        raise BadRequestError("No image-capable model is enabled in the catalogue.", param="model",
                             code="model_not_found")
    return model


def _image_model_ids() -> list[str]:
    return list(ModelConfig.objects.filter(enabled=True, image_generation=True).values_list("id", flat=True))


def image_upload_store(*, upload: Any, owner: ApiKey, param: str) -> StoredFile:
    """An uploaded picture to edit, kept like any attachment; anything but an image is refused."""
    limit = settings.GEMPOOL_MAX_UPLOAD_BYTES
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise BadRequestError(f"The image is larger than {limit} bytes.", param=param, code="request_too_large")
    mime = content_types.sniff(data[:4096])
    if not mime or not mime.startswith("image/"):
        raise BadRequestError("The upload is not an image (PNG, JPEG, WebP or GIF).", param=param)
    return files.stored_file_from_bytes(data=data, filename=getattr(upload, "name", None) or "image.png",
                                        mime_type=mime, owner=owner)


def images_plan_build(*, request: ImageRequest, api_key: ApiKey, request_base_url: Callable[[], str],
                      images: list[StoredFile] | None = None) -> ChatPlan:
    """A media-required plan with only the upstream's image tool: no upstream call yet."""
    model = image_model_resolve(name=request.model)
    key_check_model(api_key, model_id=model.id)
    pool = pool_settings_get()
    verb = "Edit the attached image" if images else "Create an image"
    size = f"\nImage size: {request.size}." if request.size and request.size != "auto" else ""
    return ChatPlan(request_id=new_request_id(), model=model, query=f"{verb}: {request.prompt}{size}",
                    stored_files=list(images or []), stream=False, include_usage=False,
                    request_base_url=request_base_url, api_key=api_key,
                    pool=pool, endpoint="images", media_required=True, tools_override=IMAGE_TOOLS,
                    prompt_excerpt=prompt_excerpt(request.prompt),
                    # One request however many images: images_create ends the admission after the last run.
                    # Last: nothing after it may fail and strand a concurrency slot.
                    admission=key_admit(api_key=api_key), admission_ends_with_run=False)


def images_create(*, plan: ChatPlan, request: ImageRequest) -> dict:
    """Run once per image asked for and answer OpenAI's images envelope; raises RunFailed when a run fails.
    The key's admission covers the whole request: each run renews its slot, and it ends once, after the last
    run, with the estimated tokens of all of them."""
    data: list[dict] = []
    tokens: list[int] = []
    try:
        for index in range(request.n):
            run_plan = plan if index == 0 else replace(plan, request_id=new_request_id())
            for media in _one_run(run_plan, tokens=tokens):
                data.append(_image_entry(media, plan=plan, response_format=request.response_format))
    finally:
        if plan.admission is not None:
            plan.admission.finish(tokens=sum(tokens))
    return {"created": int(time.time()), "data": data[:request.n]}


def _one_run(plan: ChatPlan, *, tokens: list[int]) -> tuple[GeneratedMedia, ...]:
    """One run to its end (its outcome recorded), and the media it brought; appends its estimated tokens."""
    media: tuple[GeneratedMedia, ...] = ()
    run = ChatRun(plan, buffered=True)
    events = run.events()
    try:
        for event in events:
            if isinstance(event, Failed):
                raise RunFailed(_explained(event, run))
            if isinstance(event, MediaReady):
                media = event.media
    finally:
        events.close()
        tokens.append(run.tokens_to_charge())
    if not media:
        raise AssertionError("a media-required run that finished brought media")
    return media


def _explained(failed: Failed, run: ChatRun) -> Failed:
    """A run whose accounts all answered without an image says so plainly."""
    if run.last_error is not None and run.last_error.kind == "no_image":
        return replace(failed, status=502, code="no_image", message=(
            "No image came back from the upstream: every account tried answered without one, also after "
            f"waiting {settings.GEMPOOL_IMAGE_WAIT_SECONDS:g} s for late images."))
    return failed


def _image_entry(media: GeneratedMedia, *, plan: ChatPlan, response_format: str) -> dict:
    if response_format == "b64_json":
        with files.media_open(media=media) as handle:
            return {"b64_json": base64.b64encode(handle.read()).decode(), "revised_prompt": None}
    return {"url": files.media_url(media=media, base_url=plan.image_base_url), "revised_prompt": None}
