"""The message builder: Anthropic's block and event order, indexes and the final message, in one place."""
from __future__ import annotations

from anthropic_api.shapes import MessageBuilder, thinking_signature
from completions.tool_types import ToolCall


def test_thoughts_text_and_a_call_become_indexed_blocks_with_anthropics_events():
    builder = MessageBuilder(message_id="msg_1", model="claude-x", input_tokens=7)
    events = builder.start()
    events += builder.text("thinking", "Hmm") + builder.text("thinking", ".")
    events += builder.text("text", "Hi") + builder.text("text", "")
    events += builder.tool_use(ToolCall(id="call_abc", name="f", arguments='{"a": 1}'))
    message, ending = builder.finish(stop_reason="tool_use", output_tokens=5)
    events += ending
    assert [(e["type"], e.get("index"), e.get("delta", {}).get("type")) for e in events] == [
        ("message_start", None, None),
        ("content_block_start", 0, None), ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"), ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, None), ("content_block_delta", 1, "text_delta"), ("content_block_stop", 1, None),
        ("content_block_start", 2, None), ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("message_delta", None, None), ("message_stop", None, None)]
    assert events[0]["message"]["content"] == [] and events[0]["message"]["usage"]["input_tokens"] == 7
    assert events[9]["content_block"] == {"type": "tool_use", "id": "toolu_abc", "name": "f", "input": {}}
    assert events[10]["delta"]["partial_json"] == '{"a":1}'
    assert message["content"] == [
        {"type": "thinking", "thinking": "Hmm.", "signature": thinking_signature("Hmm.")},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "toolu_abc", "name": "f", "input": {"a": 1}}]
    assert (message["stop_reason"], message["stop_sequence"], message["usage"]["output_tokens"]) == \
        ("tool_use", None, 5)
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


def test_signatures_are_stable_for_the_same_thoughts_and_differ_for_others():
    assert thinking_signature("a") == thinking_signature("a") != thinking_signature("b")
