"""The Responses API's objects: the response, its output items and usage (estimated like chat completions)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


def new_id(prefix: str) -> str:
    """OpenAI-style ids: resp_…, msg_…, rs_…, fc_…, call_…"""
    return f"{prefix}_{secrets.token_hex(16)}"


def message_item(item_id: str, text: str, *, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [output_text_part(text)] if status == "completed" else []}


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_item(item_id: str, text: str | None) -> dict[str, Any]:
    """Gemini's thoughts are summaries of its reasoning: they go out as the reasoning item's summary."""
    summary = [summary_part(text)] if text is not None else []
    return {"id": item_id, "type": "reasoning", "summary": summary}


def summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def function_call_item(item_id: str, *, call_id: str, name: str, arguments: str,
                       status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def usage(*, input_tokens: int, output_tokens: int, reasoning_tokens: int) -> dict[str, Any]:
    return {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens}


@dataclass(frozen=True)
class ResponseHeader:
    """What every state of one response carries: the request's settings, echoed as OpenAI does."""

    response_id: str
    created_at: int
    model: str
    request: dict[str, Any] = field(default_factory=dict)

    def build(self, *, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None = None,
              error: dict[str, Any] | None = None, incomplete_reason: str | None = None) -> dict[str, Any]:
        request = self.request
        return {
            "id": self.response_id, "object": "response", "created_at": self.created_at, "status": status,
            "background": False, "error": error,
            "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
            "instructions": request.get("instructions"), "max_output_tokens": request.get("max_output_tokens"),
            "model": self.model, "output": output,
            "parallel_tool_calls": request.get("parallel_tool_calls", True),
            "previous_response_id": request.get("previous_response_id") or None,
            "reasoning": _reasoning(request.get("reasoning")), "store": request.get("store", True),
            "temperature": _or(request.get("temperature"), 1.0),
            "text": request.get("text") or {"format": {"type": "text"}},
            "tool_choice": request.get("tool_choice", "auto"), "tools": request.get("tools", []),
            "top_p": _or(request.get("top_p"), 1.0), "truncation": "disabled", "usage": usage,
            "user": request.get("user"), "metadata": request.get("metadata", {}),
        }


def _reasoning(value: Any) -> dict[str, Any]:
    value = value if isinstance(value, dict) else {}
    return {"effort": value.get("effort"), "summary": value.get("summary")}


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def echoed_request(data: dict[str, Any]) -> dict[str, Any]:
    """The validated request fields a response object repeats."""
    keys = ("instructions", "max_output_tokens", "parallel_tool_calls", "previous_response_id", "reasoning",
            "store", "temperature", "text", "tool_choice", "tools", "top_p", "user", "metadata")
    return {key: data.get(key) for key in keys if key in data}
