"""Under gevent, Django handles each request on a greenlet of its own that ends when Django returns.

Python keeps a greenlet's frames in a stack of its own, mapped 16 KiB at a time, whose pages stay in RSS once
touched for as long as the greenlet lives. Handling a request goes deep (gunicorn, fifteen middleware as two
frames each, DRF, the view, the run's lease and upstream calls: 66 frames), and a streamed answer is then
relayed for minutes by the same greenlet, gunicorn's for the connection, 18 frames deep. Run on a short-lived
greenlet, the deep part gives its pages back when Django returns, and the connection's greenlet stays shallow
for the rest of the stream: about 10 KiB less per open stream (bench/README.md, "A greenlet's frame stack").

The greenlet is a plain child of the connection's greenlet, switched to directly: the call is an ordinary
call that happens to run on other stacks (its result or exception comes back from switch()), and gevent's
blocking calls inside it switch to the hub and back to it as anywhere else. Greenlet-local state (Django's
database connections, gevent's patched threading.local) is the child's own, so the child gives its database
connections back before it ends; the response's iteration, later, opens its own where it needs them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from gempool_site.db import release_connections
from gempool_site.event_loop import under_gevent


class DjangoOnFreshStack:
    """WSGI middleware around Django's application (gempool_site.wsgi): under gevent, each call runs on a
    greenlet of its own; elsewhere (gthread, tests' client) the call is passed straight on."""

    def __init__(self, app: Callable[[dict, Callable], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not under_gevent():  # asked per call: gunicorn's gevent worker patches after importing this module
            return self.app(environ, start_response)
        from greenlet import greenlet

        return greenlet(self._handle).switch(environ, start_response)

    def _handle(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        finally:
            release_connections()
