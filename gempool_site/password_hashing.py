"""Password hashing off the gevent event loop.

A PBKDF2 check costs about half a second of CPU. Under the gevent worker every request and stream of the
process shares one event loop, so hashing on it would freeze all of them that long per login attempt.
hashlib's PBKDF2 releases the GIL while it works, so running it on a native thread (a small gevent thread
pool) lets the loop keep serving; the greenlet that asked simply waits for the result. Outside gevent
(gthread worker, commands, tests) hashing runs inline, as Django does it. A config import, seconds of
CPU for a large file, takes the same way off the loop.
"""
from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from gempool_site.event_loop import under_gevent

# Hashing threads per process: logins are rare and throttled; two keep a burst from owning every core. Config
# imports (run_off_event_loop_with_db) share them: an import in progress leaves hashing one thread.
HASHING_THREADS = 2
_pool = None


def run_off_event_loop[T](func: Callable[..., T], *args) -> T:
    """func(*args) on a native thread when running under gevent (the calling greenlet waits), else inline."""
    global _pool
    if not under_gevent():
        return func(*args)
    if _pool is None:  # created in the worker after the fork; greenlets cannot interleave here (no I/O)
        from gevent.threadpool import ThreadPool

        _pool = ThreadPool(HASHING_THREADS)
    return _pool.apply(func, args)


def run_off_event_loop_with_db[T](func: Callable[..., T], *args) -> T:
    """run_off_event_loop() for work that uses the database (a config import). On the native thread it gets
    a connection of its own (Django's are per thread), closed when it is done: pool threads outlive the
    request, and nothing else would close it. Pure Python work holds the GIL, but the interpreter hands it
    to the loop's thread every few milliseconds, so the loop keeps serving where inline it would stop."""
    if not under_gevent():
        return func(*args)
    return run_off_event_loop(_closing_connections, func, *args)


def _closing_connections[T](func: Callable[..., T], *args) -> T:
    from django.db import connections

    try:
        return func(*args)
    finally:
        connections.close_all()


class OffLoopPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's default hasher, same algorithm name (stored hashes keep verifying), hashed off the event loop.

    verify(), harden_runtime() and set_password() all go through encode().
    """

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        return run_off_event_loop(super().encode, password, salt, iterations)
