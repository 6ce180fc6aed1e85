"""AssistStream: the live iterator of events over an open widgetStreamAssist response."""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Self

import requests
import urllib3.exceptions

from gemini_enterprise.body import BodyIdle, SocketBodySource, open_body
from gemini_enterprise.errors import AuthExpired, Unavailable, UpstreamError
from gemini_enterprise.stream import ArrayStreamParser, EventDecoder, StreamFormatError, StreamTruncated
from gemini_enterprise.types import StreamError, StreamEvent, StreamIdle, TextDelta, ThoughtDelta

logger = logging.getLogger(__name__)

_READ_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)


class AssistStream:
    """Iterator of StreamEvent decoded while bytes arrive; ends after a StreamError. Close it when done.

    With `idle_after`, a silence of that many seconds yields a StreamIdle (the caller may send a keep-alive)
    and reading goes on; a silence of `read_timeout` seconds in all ends the stream with an Unavailable.
    """

    def __init__(self, response: requests.Response | SocketBodySource, *, read_timeout: float,
                 idle_after: float | None = None, account: str = "",
                 on_auth_expired: Callable[[], None] | None = None) -> None:
        self._response = response
        self._body = open_body(response, idle_after=idle_after, read_timeout=read_timeout)
        self._account = account
        self._on_auth_expired = on_auth_expired
        self._parser = ArrayStreamParser()
        self._decoder = EventDecoder()
        self._pending: deque[StreamEvent] = deque()
        self._done = False
        self._closed = False

    def output_ready(self) -> bool:
        """Is a text or thought fragment among the events already decoded (next() will not wait for it)?"""
        return any(isinstance(event, (TextDelta, ThoughtDelta)) and event.text for event in self._pending)

    def __iter__(self) -> Iterator[StreamEvent]:
        # A generator, not `self`: a for loop runs a generator inside its own frame, where each step of an
        # iterator object is a fresh call into the interpreter through __next__. A relayed stream's greenlet
        # waits for its next fragment at the bottom of that loop, so it parks with one interpreter frame
        # fewer on its saved C stack (bench/README.md, "A greenlet's frame stack").
        while True:
            while not self._pending:
                if self._done:
                    self.close()
                    return
                self._pump()
            yield self._pending.popleft()

    def __next__(self) -> StreamEvent:
        for event in self:  # one step of __iter__'s loop: the state lives on the stream, not in the generator
            return event
        raise StopIteration

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Give the connection back (the whole body was read) or drop it (an abandoned stream). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._done = True
        try:
            self._body.close()
        except _READ_ERRORS as exc:
            logger.debug("closing stream failed: %s", type(exc).__name__)

    # ---- internals -----------------------------------------------------------------------------

    def _pump(self) -> None:
        try:
            chunk = self._body.read() if not self._closed else b""
        except BodyIdle as idle:
            self._pending.append(StreamIdle(idle.silent_for))
            return
        except _READ_ERRORS as exc:
            self._fail(Unavailable(f"stream read failed: {type(exc).__name__}", status=200,
                                   reason="STREAM_READ"))
            return
        if not chunk:
            self._end_of_body()
            return
        try:
            elements = self._parser.feed(chunk)
        except StreamFormatError as exc:
            self._fail(Unavailable(f"malformed stream: {exc}", status=200, reason="MALFORMED_STREAM"))
            return
        for element in elements:
            for event in self._decoder.events(element):
                self._pending.append(event)
                if isinstance(event, StreamError):
                    self._finish_with(event.error)
                    return

    def _end_of_body(self) -> None:
        try:
            self._parser.close()
        except StreamTruncated as exc:
            self._fail(Unavailable(f"truncated stream: {exc}", status=200, reason="TRUNCATED_STREAM"))
            return
        except StreamFormatError as exc:  # held back by feed() while it handed out the good elements before it
            self._fail(Unavailable(f"malformed stream: {exc}", status=200, reason="MALFORMED_STREAM"))
            return
        error = self._decoder.end_of_stream_error()
        if error is not None:
            self._fail(error)
            return
        self._done = True

    def _fail(self, error: UpstreamError) -> None:
        self._pending.append(StreamError(error))
        self._finish_with(error)

    def _finish_with(self, error: UpstreamError) -> None:
        logger.info("stream ended with an error", extra={"account": self._account, "kind": error.kind,
                                                          "reason": error.reason})
        if isinstance(error, AuthExpired) and self._on_auth_expired is not None:
            self._on_auth_expired()  # the next call must not reuse the JWT this stream was refused with
        self._done = True
