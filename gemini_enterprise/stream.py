"""Incremental parsing of widgetStreamAssist's streamed JSON array into typed events.

The body is one JSON array written element by element (`[{`, `\\n,\\r\\n{`, `\\n]` in Google's framing, but
any whitespace is accepted). We scan raw bytes: every structural character is ASCII, and UTF-8 never
uses ASCII byte values inside a multi-byte sequence, so a chunk split inside a character is harmless.
Only a complete element is decoded, and consumed bytes are dropped, so memory is bounded by the
largest element rather than by the response.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from gemini_enterprise.errors import AuthExpired, UpstreamError, error_from_response
from gemini_enterprise.types import (
    FinalState,
    GeneratedFile,
    SessionInfo,
    StreamError,
    StreamEvent,
    TextDelta,
    ThoughtDelta,
)

logger = logging.getLogger(__name__)

# Outside strings only these bytes matter; inside strings only the quote and the backslash.
_STRUCTURAL = re.compile(rb'[{}"\[\]]')
_STRING_SPECIAL = re.compile(rb'["\\]')
_WHITESPACE = b" \t\r\n"
_FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED"})


class StreamFormatError(ValueError):
    """The bytes are not a JSON array of objects (malformed element, stray data)."""


class StreamTruncated(StreamFormatError):
    """The body ended before the array was closed (or inside an element)."""


_RAW_DECODER = json.JSONDecoder()
_BEFORE, _BETWEEN, _IN_ELEMENT, _DONE = range(4)


class ArrayStreamParser:
    """Feed bytes of a streamed JSON array; get each element as a dict as soon as it is complete."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # next byte to scan
        self._start = 0  # first byte of the element being scanned
        self._depth = 0
        self._in_string = False
        self._state = _BEFORE
        self._bare = False  # body turned out to be objects without the surrounding array
        self._error: StreamFormatError | None = None
        self._fast_tried = False  # did the one-call decode already fail for the current element?

    @property
    def buffered(self) -> int:
        """Bytes currently held (for tests of memory boundedness)."""
        return len(self._buf)

    @property
    def finished(self) -> bool:
        """True once the closing `]` was seen."""
        return self._state == _DONE

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Consume a chunk; return the elements it completed (possibly none)."""
        if self._error is not None:
            raise self._error
        if not data:
            return []
        self._buf += data
        out: list[dict[str, Any]] = []
        try:
            while self._pos < len(self._buf):
                if self._state == _IN_ELEMENT:
                    if not self._scan_element(out):
                        break
                elif not self._scan_between():
                    break
        except StreamFormatError as exc:
            if not out:
                raise
            self._error = exc  # hand out the good elements first; the next call reports the fault
        self._compact()
        return out

    def close(self) -> None:
        """Signal end of body; raise StreamTruncated if the array was left open."""
        if self._error is not None:
            raise self._error
        if self._state == _DONE:
            return
        if self._state == _IN_ELEMENT:
            raise StreamTruncated(f"stream ended inside an element ({len(self._buf) - self._start} bytes)")
        if self._bare and self._state == _BETWEEN:
            return
        raise StreamTruncated("stream ended before the closing ']'")

    # ---- scanning ----------------------------------------------------------------------------

    def _scan_between(self) -> bool:
        """Skip framing between elements; returns False when more bytes are needed."""
        buf = self._buf
        while self._pos < len(buf):
            byte = buf[self._pos]
            if byte in _WHITESPACE:
                self._pos += 1
            elif self._state == _BEFORE and byte == 0x5B:  # '['
                self._state = _BETWEEN
                self._pos += 1
            elif self._state == _BEFORE and byte == 0x7B:  # '{' without array: tolerate bare objects
                self._bare = True
                self._state = _BETWEEN
            elif self._state == _BETWEEN and byte == 0x2C:  # ','
                self._pos += 1
            elif self._state == _BETWEEN and byte == 0x7B:
                self._state = _IN_ELEMENT
                self._start = self._pos
                self._depth = 0
                return True
            elif self._state == _BETWEEN and byte == 0x5D and not self._bare:  # ']'
                self._state = _DONE
                self._pos += 1
            elif self._state == _DONE:
                raise StreamFormatError("data after the closing ']'")
            else:
                raise StreamFormatError(f"unexpected byte {chr(byte)!r} between elements")
        return False

    def _scan_element(self, out: list[dict[str, Any]]) -> bool:
        """Advance through the current element; returns False when more bytes are needed."""
        if self._pos == self._start and not self._fast_tried and self._decode_whole(out):
            return True
        buf = self._buf
        while True:
            if self._in_string:
                match = _STRING_SPECIAL.search(buf, self._pos)
                if match is None:
                    self._pos = len(buf)
                    return False
                idx = match.start()
                if buf[idx] == 0x5C:  # backslash: skip it and the escaped byte
                    if idx + 1 >= len(buf):
                        self._pos = idx  # rescan the backslash when its partner arrives
                        return False
                    self._pos = idx + 2
                    continue
                self._in_string = False
                self._pos = idx + 1
                continue
            match = _STRUCTURAL.search(buf, self._pos)
            if match is None:
                self._pos = len(buf)
                return False
            idx = match.start()
            byte = buf[idx]
            self._pos = idx + 1
            if byte == 0x22:
                self._in_string = True
            elif byte in (0x7B, 0x5B):
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    out.append(self._decode(self._start, self._pos))
                    self._state = _BETWEEN
                    self._fast_tried = False
                    return True

    def _decode_whole(self, out: list[dict[str, Any]]) -> bool:
        """Fast path: the element usually arrives whole, and one C-level raw_decode beats scanning it
        byte class by byte class. On any failure the scanner takes over this element (tried once only,
        so a slowly arriving element never costs quadratic time)."""
        self._fast_tried = True
        try:
            text = self._buf[self._start:].decode("utf-8")
            value, end = _RAW_DECODER.raw_decode(text)
        except ValueError:  # incomplete, cut inside a character, or malformed: let the scanner decide
            return False
        if not isinstance(value, dict):
            return False
        self._pos = self._start + len(text[:end].encode("utf-8"))
        out.append(value)
        self._state = _BETWEEN
        self._fast_tried = False
        return True

    def _decode(self, start: int, end: int) -> dict[str, Any]:
        raw = bytes(self._buf[start:end])
        try:
            value = json.loads(raw)
        except ValueError:  # UnicodeDecodeError is a ValueError too
            # The element's text stays out of the message: it may quote user content.
            raise StreamFormatError(f"malformed element of {len(raw)} bytes") from None
        if not isinstance(value, dict):
            raise StreamFormatError("array element is not an object")
        return value

    def _compact(self) -> None:
        """Drop bytes no longer needed, so the buffer holds at most one (partial) element."""
        keep_from = self._start if self._state == _IN_ELEMENT else self._pos
        if keep_from:
            del self._buf[:keep_from]
            self._pos -= keep_from
        self._start = 0


# ---- elements -> events ------------------------------------------------------------------------


class EventDecoder:
    """Turns parsed elements into events for one stream, remembering what it must not repeat."""

    def __init__(self) -> None:
        self.seen_files: set[str] = set()
        self.saw_answer = False  # any streamAssistResponse at all
        self.saw_utoken = False
        self._last_session: SessionInfo | None = None

    def events(self, element: dict[str, Any]) -> list[StreamEvent]:
        """Events carried by one array element."""
        if "uToken" in element:
            self.saw_utoken = True
        if "streamAssistResponse" in element:
            self.saw_answer = True
        events = events_from_element(element, seen_files=self.seen_files)
        out: list[StreamEvent] = []
        for event in events:
            if isinstance(event, SessionInfo):
                if event == self._last_session:
                    continue
                self._last_session = event
            out.append(event)
        return out

    def end_of_stream_error(self) -> UpstreamError | None:
        """Judge a cleanly closed array: a lone uToken element means the JWT/session was not accepted."""
        if self.saw_utoken and not self.saw_answer:
            # Chosen: AuthExpired, not LoginRequired. The cookies may be fine (getoxsrf worked), so the cheap
            # remedy is a fresh JWT; a truly dead login shows up on that next getoxsrf as LoginRequired.
            return AuthExpired("stream held only a uToken element and no answer", status=200,
                               reason="UTOKEN_ONLY")
        return None


def events_from_element(element: dict[str, Any], *, seen_files: set[str] | None = None) -> list[StreamEvent]:
    """Events in one array element; `seen_files` (shared across a stream) drops repeated file ids."""
    if "error" in element:
        err = element["error"] if isinstance(element["error"], dict) else {}
        code = err.get("code")
        status = code if isinstance(code, int) else 200
        return [StreamError(error_from_response(status, element))]
    response = element.get("streamAssistResponse")
    if not isinstance(response, dict):
        return []
    events: list[StreamEvent] = []
    answer = response.get("answer")
    # Shapes are checked, not trusted: an odd field is skipped rather than crashing the whole answer.
    if isinstance(answer, dict) and isinstance(answer.get("replies"), list):
        for reply in answer["replies"]:
            events.extend(_reply_events(reply, seen_files))
    info = response.get("sessionInfo")
    if isinstance(info, dict) and info.get("session"):
        events.append(SessionInfo(session=str(info["session"]), query_id=str(info.get("queryId", "")),
                                  turn_id=str(info.get("turnId", ""))))
    if isinstance(answer, dict) and isinstance(answer.get("state"), str) and answer["state"] in _FINAL_STATES:
        skipped = answer.get("assistSkippedReasons")
        reasons = tuple(str(r) for r in skipped) if isinstance(skipped, list) else ()
        events.append(FinalState(state=answer["state"], skipped_reasons=reasons,
                                 answer_name=str(answer.get("name", ""))))
    return events


def _reply_events(reply: Any, seen_files: set[str] | None) -> list[StreamEvent]:
    if not isinstance(reply, dict):
        return []
    grounded = reply.get("groundedContent")
    content = grounded.get("content") if isinstance(grounded, dict) else None
    if not isinstance(content, dict):
        return []
    events: list[StreamEvent] = []
    text = content.get("text")
    if isinstance(text, str) and text:
        events.append(ThoughtDelta(text) if content.get("thought") else TextDelta(text))
    file = content.get("file")
    if isinstance(file, dict) and file.get("fileId"):
        file_id = str(file["fileId"])
        if seen_files is None or file_id not in seen_files:
            if seen_files is not None:
                seen_files.add(file_id)
            events.append(GeneratedFile(file_id=file_id, mime_type=str(file.get("mimeType", "")),
                                        name=str(file.get("name", ""))))
    return events
