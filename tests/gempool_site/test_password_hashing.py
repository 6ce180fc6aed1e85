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
