"""Password hashing off the gevent event loop.

A PBKDF2 check costs about half a second of CPU. Under the gevent worker every request and stream of the
process shares one event loop, so hashing on it would freeze all of them that long per login attempt.
hashlib's PBKDF2 releases the GIL while it works, so running it on a native thread (a small gevent thread
pool) lets the loop keep serving; the greenlet that asked simply waits for the result. Outside gevent
(gthread worker, commands, tests) hashing runs inline, as Django does it.
"""
from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.hashers import PBKDF2PasswordHasher

# Hashing threads per process: logins are rare and throttled; two keep a burst from owning every core.
HASHING_THREADS = 2
_pool = None


def _under_gevent() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("socket")


def run_off_event_loop[T](func: Callable[..., T], *args) -> T:
    """func(*args) on a native thread when running under gevent (the calling greenlet waits), else inline."""
    global _pool
    if not _under_gevent():
        return func(*args)
    if _pool is None:  # created in the worker after the fork; greenlets cannot interleave here (no I/O)
        from gevent.threadpool import ThreadPool

        _pool = ThreadPool(HASHING_THREADS)
    return _pool.apply(func, args)


class OffLoopPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's default hasher, same algorithm name (stored hashes keep verifying), hashed off the event loop.

    verify(), harden_runtime() and set_password() all go through encode().
    """

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        return run_off_event_loop(super().encode, password, salt, iterations)
