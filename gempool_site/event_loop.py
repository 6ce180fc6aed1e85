"""How this process waits: on gevent's event loop (the gevent worker, monkey-patched) or on OS threads.

Code that needs a wait of its own (a deadline, a thread for CPU-bound work) asks here, so it takes the cheap
way under either worker class.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

_patched = False  # once patched, a process stays patched: only a yes is remembered


def under_gevent() -> bool:
    """Is this process gevent's (sockets monkey-patched)?"""
    global _patched
    if _patched:
        return True  # asked several times per request; the import and the lookup were ~1 % of a stream's setup
    try:
        from gevent import monkey
    except ImportError:
        return False
    _patched = monkey.is_module_patched("socket")
    return _patched


def call_later(seconds: float, func: Callable[[], None]) -> Callable[[], None]:
    """Run func() once `seconds` have passed, unless the returned cancel() is called first.

    Under gevent it is a timer of the calling thread's event loop (func runs in the loop's own greenlet, so it
    must not block): a few microseconds, where a threading.Timer there is a greenlet, an Event and two locks,
    about 30 us and 2 KiB kept until it ends. Elsewhere it is a threading.Timer (a daemon thread).
    """
    if under_gevent():
        from gevent import get_hub

        loop = get_hub().loop
        # libev counts from the time the loop read at the start of its current turn, which a busy turn leaves
        # behind by as long as the turn has run: read the clock again, or the timer fires that much early.
        loop.update_now()
        timer = loop.timer(seconds)
        timer.start(func)
        return timer.close
    thread = threading.Timer(seconds, func)
    thread.daemon = True
    thread.start()
    return thread.cancel
