"""The off-loop PBKDF2 hasher is Django's own as far as stored hashes go."""
from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher

from gempool_site.password_hashing import OffLoopPBKDF2PasswordHasher, run_off_event_loop


def test_the_off_loop_hasher_keeps_djangos_algorithm_so_stored_hashes_verify():
    stored = PBKDF2PasswordHasher().encode("s3cret", "somesalt", iterations=1000)
    hasher = OffLoopPBKDF2PasswordHasher()
    assert hasher.algorithm == "pbkdf2_sha256"
    assert hasher.verify("s3cret", stored) and not hasher.verify("wrong", stored)
    assert hasher.encode("s3cret", "somesalt", 1000) == stored


def test_outside_gevent_work_runs_inline():
    import threading

    assert run_off_event_loop(threading.get_ident) == threading.get_ident()


def test_outside_gevent_database_work_runs_inline_on_the_callers_connection(db):
    """Only a pool thread's own connection is closed after; a command's or a test's stays open."""
    import threading

    from django.db import connection

    from gempool_site.password_hashing import run_off_event_loop_with_db

    connection.ensure_connection()
    before = connection.connection
    assert run_off_event_loop_with_db(threading.get_ident) == threading.get_ident()
    assert connection.connection is before
