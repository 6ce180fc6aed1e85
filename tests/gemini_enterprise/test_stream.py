"""ArrayStreamParser and element -> event decoding."""

from __future__ import annotations

import json

import pytest

from gemini_enterprise.errors import AuthExpired, RateLimited
from gemini_enterprise.stream import (
    ArrayStreamParser,
    EventDecoder,
    StreamFormatError,
    StreamTruncated,
    events_from_element,
)
from gemini_enterprise.types import (
    FinalState,
    GeneratedFile,
    SessionInfo,
    StreamError,
    TextDelta,
    ThoughtDelta,
)

ELEMENTS = [
    {
        "uToken": "u",
        "streamAssistResponse": {
            "answer": {
                "state": "IN_PROGRESS",
                "replies": [{"groundedContent": {"content": {"text": "**Plan** think\n", "thought": True}}}],
            },
            "sessionInfo": {},
        },
    },
    {
        "streamAssistResponse": {
            "answer": {
                "state": "IN_PROGRESS",
                "replies": [
                    {"groundedContent": {"content": {"text": 'quote " brace } bracket ] back\\slash ,'}}}
                ],
            }
        }
    },
    {
        "streamAssistResponse": {
            "answer": {
                "state": "IN_PROGRESS",
                "replies": [{"groundedContent": {"content": {"text": "héllo wörld — 中文 😀"}}}],
            }
        }
    },
    {
        "streamAssistResponse": {
            "answer": {"state": "SUCCEEDED", "name": "a/answers/1", "replies": []},
            "sessionInfo": {"session": "projects/1/x/sessions/2", "queryId": "q", "turnId": "t"},
        }
    },
]


def google_framing(elements: list[dict]) -> bytes:
    return (
        "[" + "\n,\r\n".join(json.dumps(e, indent=2, ensure_ascii=False) for e in elements) + "\n]"
    ).encode()


def compact_framing(elements: list[dict]) -> bytes:
    return json.dumps(elements, separators=(",", ":"), ensure_ascii=False).encode()


def odd_framing(elements: list[dict]) -> bytes:
    body = " \r\n\t,\n ".join(json.dumps(e) for e in elements)  # ASCII-escaped strings, odd whitespace
    return f"\n  [ \n{body} \n ] \n".encode()


FRAMINGS = [google_framing, compact_framing, odd_framing]


@pytest.mark.parametrize("framing", FRAMINGS)
def test_the_parser_reads_the_array_split_at_every_byte_position(framing) -> None:
    data = framing(ELEMENTS)
    for cut in range(len(data) + 1):
        parser = ArrayStreamParser()
        got = parser.feed(data[:cut]) + parser.feed(data[cut:])
        parser.close()
        assert got == ELEMENTS, f"split at {cut}"


@pytest.mark.parametrize("framing", FRAMINGS)
def test_the_parser_reads_the_array_fed_one_byte_at_a_time(framing) -> None:
    data = framing(ELEMENTS)
    parser = ArrayStreamParser()
    got = []
    for i in range(len(data)):
        got += parser.feed(data[i : i + 1])
    parser.close()
    assert got == ELEMENTS
    assert parser.finished


def test_a_split_inside_a_multibyte_character_waits_for_the_rest() -> None:
    data = google_framing([{"t": "😀"}])
    emoji_at = data.index("😀".encode())
    for cut in range(emoji_at + 1, emoji_at + 4):  # inside the 4-byte sequence
        parser = ArrayStreamParser()
        assert parser.feed(data[:cut]) == []
        assert parser.feed(data[cut:]) == [{"t": "😀"}]


def test_each_element_is_returned_as_soon_as_it_is_complete() -> None:
    parser = ArrayStreamParser()
    first, second = (json.dumps(e, indent=2).encode() for e in ELEMENTS[:2])
    assert parser.feed(b"[" + first) == [ELEMENTS[0]]
    assert parser.feed(b"\n,\r\n" + second[:-1]) == []
    assert parser.feed(second[-1:]) == [ELEMENTS[1]]


@pytest.mark.parametrize("body", [b'[{"a": 1}', b'[{"a": 1},{"b":', b"[", b"", b'[{"a": "x\\'])
def test_a_truncated_array_is_reported(body: bytes) -> None:
    parser = ArrayStreamParser()
    parser.feed(body)
    with pytest.raises(StreamTruncated):
        parser.close()


@pytest.mark.parametrize("body", [b'[{"a": nope}]', b"[1, 2]", b'[{"a":1}] trailing', b"<html>"])
def test_malformed_input_is_rejected(body: bytes) -> None:
    parser = ArrayStreamParser()
    with pytest.raises(StreamFormatError):
        parser.feed(body)
        parser.close()


def test_good_elements_come_out_before_a_bad_one_is_reported() -> None:
    parser = ArrayStreamParser()
    assert parser.feed(b'[{"a": 1},{"a": nope}]') == [{"a": 1}]
    with pytest.raises(StreamFormatError):
        parser.close()


def test_the_parsers_memory_is_bounded_by_the_largest_element() -> None:
    parser = ArrayStreamParser()
    element = json.dumps(
        {
            "streamAssistResponse": {
                "answer": {"replies": [{"groundedContent": {"content": {"text": "x" * 2000}}}]}
            }
        }
    ).encode()
    parser.feed(b"[")
    peak = 0
    for _ in range(5000):  # ~10 MB in total
        parser.feed(element[:1000])
        peak = max(peak, parser.buffered)
        assert len(parser.feed(element[1000:] + b",\n")) == 1
        peak = max(peak, parser.buffered)
    parser.feed(b"]")
    parser.close()
    assert peak <= len(element) + 4


def test_the_parser_is_fast_enough_for_the_hot_path() -> None:
    import time

    data = google_framing(ELEMENTS * 2000)  # ~1.3 MB
    parser = ArrayStreamParser()
    started = time.perf_counter()
    count = sum(len(parser.feed(data[i : i + 1024])) for i in range(0, len(data), 1024))
    assert count == 8000
    assert time.perf_counter() - started < 2.0


# ---- events ---------------------------------------------------------------------------------


def test_decoding_tells_thoughts_from_text_and_reports_session_and_final_state() -> None:
    decoder = EventDecoder()
    events = [e for element in ELEMENTS for e in decoder.events(element)]
    assert events == [
        ThoughtDelta("**Plan** think\n"),
        TextDelta('quote " brace } bracket ] back\\slash ,'),
        TextDelta("héllo wörld — 中文 😀"),
        SessionInfo(session="projects/1/x/sessions/2", query_id="q", turn_id="t"),
        FinalState(state="SUCCEEDED", answer_name="a/answers/1"),
    ]


def test_an_empty_session_info_is_ignored() -> None:
    assert events_from_element(ELEMENTS[0]) == [ThoughtDelta("**Plan** think\n")]


def test_generated_files_are_reported_once_per_stream() -> None:
    element = {
        "streamAssistResponse": {
            "answer": {
                "state": "IN_PROGRESS",
                "replies": [
                    {"groundedContent": {"content": {"file": {"fileId": "77", "mimeType": "image/png"}}}},
                    {"groundedContent": {"content": {"file": {"fileId": "77", "mimeType": "image/png"}}}},
                ],
            }
        }
    }
    decoder = EventDecoder()
    assert decoder.events(element) == [GeneratedFile(file_id="77", mime_type="image/png")]
    assert decoder.events(element) == []


def test_skipped_answers_are_reported_with_their_reasons() -> None:
    element = {
        "streamAssistResponse": {
            "answer": {"state": "SKIPPED", "assistSkippedReasons": ["CUSTOMER_POLICY_VIOLATION"]}
        }
    }
    assert events_from_element(element) == [
        FinalState(state="SKIPPED", skipped_reasons=("CUSTOMER_POLICY_VIOLATION",))
    ]


def test_an_error_element_becomes_a_stream_error() -> None:
    element = {
        "error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}
    }
    [event] = events_from_element(element)
    assert isinstance(event, StreamError)
    assert isinstance(event.error, RateLimited)


def test_a_stream_of_only_a_utoken_is_an_auth_failure() -> None:
    decoder = EventDecoder()
    assert decoder.events({"uToken": "abc"}) == []
    assert isinstance(decoder.end_of_stream_error(), AuthExpired)


def test_a_normal_stream_has_no_end_of_stream_error() -> None:
    decoder = EventDecoder()
    for element in ELEMENTS:
        decoder.events(element)
    assert decoder.end_of_stream_error() is None
