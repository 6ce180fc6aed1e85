"""A response's head leaves with its first piece of body (gempool_site.response_cork)."""
from __future__ import annotations

import socket

import pytest
from django.http import HttpResponse, StreamingHttpResponse

from gempool_site.response_cork import CORK, HeadWithFirstPiece

pytestmark = pytest.mark.skipif(CORK is None, reason="TCP_CORK is Linux's")


class RecordingSocket:
    def __init__(self) -> None:
        self.corked = False
        self.changes: list[bool] = []

    def setsockopt(self, level, option, value) -> None:
        assert (level, option) == (socket.IPPROTO_TCP, CORK)
        self.corked = bool(value)
        self.changes.append(self.corked)


def _serve(response, environ_extra=None):
    sock = RecordingSocket()
    environ = {"gunicorn.socket": sock, **(environ_extra or {})}
    return HeadWithFirstPiece(lambda env, start: response)(environ, lambda *a: None), sock


def test_a_whole_answer_is_held_until_its_body_is_written_then_released_before_close():
    closed_while_corked = []
    response = HttpResponse(b'{"id": "chatcmpl-1"}')
    response._resource_closers.append(lambda: closed_while_corked.append(sock.corked))
    served, sock = _serve(response)
    assert sock.corked  # the head gunicorn writes first waits for the body
    assert b"".join(served) == b'{"id": "chatcmpl-1"}'
    assert not sock.corked
    served.close()
    assert closed_while_corked == [False] and sock.changes == [True, False]


def test_a_stream_is_released_after_its_first_event_before_the_next_is_awaited():
    corked_when_asked = []

    def events():
        yield b"data: first\n\n"
        corked_when_asked.append(sock.corked)  # the upstream may take seconds to send this one
        yield b"data: second\n\n"
        corked_when_asked.append(sock.corked)
        yield b"data: [DONE]\n\n"

    served, sock = _serve(StreamingHttpResponse(events(), content_type="text/event-stream"))
    assert list(served) == [b"data: first\n\n", b"data: second\n\n", b"data: [DONE]\n\n"]
    assert corked_when_asked == [False, False]
    served.close()
    assert sock.changes == [True, False]


def test_a_client_that_left_before_the_body_gets_its_socket_released_on_close():
    served, sock = _serve(HttpResponse(b"never read"))
    served.close()
    assert sock.changes == [True, False]


def test_other_servers_and_file_responses_are_served_untouched():
    response = HttpResponse(b"plain")
    assert HeadWithFirstPiece(lambda env, start: response)({}, lambda *a: None) is response
    wrapped_file = object()  # what Django returns for a FileResponse under gunicorn: its wsgi.file_wrapper
    served, sock = _serve(wrapped_file)
    assert served is wrapped_file and sock.changes == []
