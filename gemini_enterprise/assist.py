"""AssistStream: the live iterator of events over an open widgetStreamAssist response."""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Self

import requests
import urllib3.exceptions

from gemini_enterprise.errors import AuthExpired, Unavailable, UpstreamError
from gemini_enterprise.stream import ArrayStreamParser, EventDecoder, StreamFormatError, StreamTruncated
from gemini_enterprise.types import FinalState, StreamError, StreamEvent

logger = logging.getLogger(__name__)

READ_SIZE = 64 * 1024  # upper bound per read; read1 returns whatever has arrived, so this adds no latency
_READ_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)


class AssistStream:
    """Iterator of StreamEvent decoded while bytes arrive; ends after a StreamError. Close it when done."""

    def __init__(self, response: requests.Response, *, account: str = "",
                 on_auth_expired: Callable[[], None] | None = None) -> None:
        self._response = response
        self._account = account
        self._on_auth_expired = on_auth_expired
        self._parser = ArrayStreamParser()
        self._decoder = EventDecoder()
        self._pending: deque[StreamEvent] = deque()
        self._done = False
        self._closed = False

    @property
    def final(self) -> FinalState | None:
        """The FinalState seen so far, if any."""
        return self._decoder.final

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        while not self._pending:
            if self._done:
                self.close()
                raise StopIteration
            self._pump()
        return self._pending.popleft()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def interrupt(self) -> None:
        """Wake a read blocked in another thread; that thread then sees the body end and closes the stream.

        Safe from any thread, unlike close(): closing under a reader makes http.client drop its file
        object mid-read (AttributeError), and a read waiting on a silent upstream would not wake up
        before the read timeout anyway. Shutting the socket down for reading ends that wait now.
        """
        try:
            self._response.raw.shutdown()
        except (ValueError, RuntimeError, OSError) as exc:  # already closed or handed back to the pool
            logger.debug("interrupting stream failed: %s", type(exc).__name__)

    def close(self) -> None:
        """Release the connection now (an abandoned stream must not hold a pooled socket). Owner thread only."""
        if self._closed:
            return
        self._closed = True
        self._done = True
        try:
            self._response.close()
        except _READ_ERRORS as exc:
            logger.debug("closing stream failed: %s", type(exc).__name__)

    # ---- internals -----------------------------------------------------------------------------

    def _pump(self) -> None:
        try:
            chunk = self._read()
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

    def _read(self) -> bytes:
        if self._closed:
            return b""
        raw = self._response.raw
        # read1 returns as soon as some bytes are there (chunked or not); read(n) would wait for n bytes.
        return raw.read1(READ_SIZE, decode_content=True)

    def _end_of_body(self) -> None:
        try:
            self._parser.close()
        except StreamTruncated as exc:
            self._fail(Unavailable(f"truncated stream: {exc}", status=200, reason="TRUNCATED_STREAM"))
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
