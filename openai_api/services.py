"""Services behind the OpenAI-compatible views: model lookup, chat planning, pool status."""
from __future__ import annotations

from collections.abc import Callable

from accounts.key_limits import key_admit, key_check_model
from accounts.models import ApiKey
from accounts.pool import pool_counts
from accounts.upstream import pool_settings_get
from gempool_site.exceptions import NotFoundError, RateLimitExceeded
from gempool_site.throttles import API_KEY_MINUTE, api_key_charge
from metering.records import prompt_excerpt
from models_catalog.models import ModelConfig
from models_catalog.services import enabled_names, model_lookup, models_enabled
from openai_api.attachments import resolve_attachments
from openai_api.chat import ChatPlan, new_request_id
from openai_api.conversation import last_user_text, render_query

CREATED_EPOCH = 1735689600  # models have no meaningful creation time upstream; a fixed one keeps lists stable


def model_resolve(*, model_id: str) -> ModelConfig:
    """The enabled catalogue entry clients name, by id or alias; else the pool's default model when one is
    set; else 404 model_not_found listing the valid names."""
    model = model_lookup(name=model_id)
    if model is None:
        fallback = pool_settings_get().default_model
        model = model_lookup(name=fallback) if fallback else None
    if model is None:
        valid = ", ".join(enabled_names())
        raise NotFoundError(f"The model {model_id!r} does not exist or is disabled. Available models: {valid}.",
                       param="model", code="model_not_found")
    return model


def model_as_openai(model: ModelConfig, *, name: str | None = None) -> dict:
    """A /v1/models entry: OpenAI's fields plus gempool's catalogue details; `name` lists it under an alias
    (then `alias_for` names the model that serves it)."""
    entry = {
        "id": name or model.id, "object": "model", "created": CREATED_EPOCH, "owned_by": "gempool",
        "name": model.name or model.id, "description": model.description,
        "context_length": model.context_length, "max_tokens": model.max_tokens,
        "capabilities": model.capabilities,
    }
    if name and name != model.id:
        entry["alias_for"] = model.id
    return entry


def model_detail(*, model_id: str) -> dict:
    """GET /v1/models/<id>: a model or an alias (listed under the name asked for); unknown names are 404
    even with a default model set, since nothing is listed under them."""
    model = model_lookup(name=model_id)
    if model is None:
        raise NotFoundError(f"The model {model_id!r} does not exist or is disabled.", param="model",
                       code="model_not_found")
    return model_as_openai(model, name=model_id)


def models_list() -> dict:
    """GET /v1/models: the enabled models in catalogue order, then their aliases as models too."""
    models = models_enabled()
    return {"object": "list", "data": [model_as_openai(m) for m in models]
            + [model_as_openai(m, name=alias) for m in models for alias in m.aliases]}


def attachments_charge(*, messages: list, api_key: ApiKey | None) -> None:
    """Count each inline or URL image as one more request on the key's rate limit (each costs a decode or a
    fetch, a stored file and an upload); refuse with 429 before any of that work once the limit is passed."""
    fetched = sum(1 for message in messages for item in message.attachments if item.kind in ("data_uri", "url"))
    if fetched and not api_key_charge(api_key, fetched):
        wait = API_KEY_MINUTE.seconds_left()
        raise RateLimitExceeded(f"Rate limit reached: each inline or URL image counts as a request on this key "
                                f"({fetched} in this one). Try again in {wait} s.", param="messages",
                                headers={"Retry-After": str(wait)})


def chat_plan_build(*, data: dict, api_key: ApiKey | None, request_base_url: Callable[[], str],
                    endpoint: str = "chat") -> ChatPlan:
    """Resolve the model and attachments and render the conversation, before any upstream call.
    `endpoint` names the API face in the request log (chat, messages)."""
    messages = data["parsed_messages"]
    attachments_charge(messages=messages, api_key=api_key)
    model = model_resolve(model_id=data["model"])
    key_check_model(api_key, model_id=model.id)
    attachments = resolve_attachments(messages, owner=api_key)
    pool = pool_settings_get()
    tool_request = data.get("tool_request")
    tools = tool_request.emulation() if tool_request is not None else None
    return ChatPlan(
        request_id=new_request_id(),
        model=model,
        query=render_query(messages, attachments.names_per_message, tools),
        stored_files=attachments.stored_files,
        stream=data["stream"],
        include_usage=data["include_usage"],
        request_base_url=request_base_url,
        api_key=api_key,
        pool=pool,
        tool_emulation=tools,
        endpoint=endpoint,
        prompt_excerpt=prompt_excerpt(last_user_text(messages)),
        admission=key_admit(api_key=api_key),  # last: nothing after it may fail and strand a concurrency slot
    )


def status_summary() -> dict:
    """Pool counts for /v1/status and keyed /health calls: "up" while any account is available."""
    counts = pool_counts()
    return {"status": "up" if counts["available"] else "degraded", "accounts": counts,
            "models": ModelConfig.objects.filter(enabled=True).count()}


def health_caller_has_key(*, authorization: str) -> bool:
    """True when the Authorization header carries a live API key (any key: counts are not secret to clients)."""
    from accounts.services import api_key_verify

    scheme, _, raw = authorization.partition(" ")
    api_key = api_key_verify(raw=raw.strip()) if scheme.lower() == "bearer" and raw.strip() else None
    return api_key is not None and not api_key.expired()
