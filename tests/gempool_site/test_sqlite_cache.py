"""SQLiteCache: Django's cache API on one file, with add and incr atomic across processes."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from gempool_site import sqlite_cache
from gempool_site.sqlite_cache import SQLiteCache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path):
    return SQLiteCache(str(tmp_path / "cache.sqlite3"), {})


def test_the_sqlite_cache_keeps_adds_and_deletes_entries_like_any_django_cache(cache):
    cache.set("a", {"jwt": "x"}, timeout=60)
    assert cache.get("a") == {"jwt": "x"} and cache.has_key("a")
    assert not cache.add("a", "other", timeout=60)
    assert cache.add("b", 0, timeout=60)
    assert cache.incr("b") == 1 and cache.incr("b", 5) == 6
    assert cache.delete("a") and not cache.delete("a")
    assert cache.get("a", "missing") == "missing"
    with pytest.raises(ValueError):
        cache.incr("never-set")
    cache.set("forever", 1, timeout=None)
    cache.clear()
    assert cache.get("forever") is None and cache.get("b") is None


def test_an_expired_entry_is_gone_and_can_be_added_again(cache):
    cache.set("short", "v", timeout=0.05)
    cache.set("kept", "v", timeout=60)
    assert cache.touch("kept", timeout=0.05)
    time.sleep(0.1)  # expiry is wall-clock time: nothing to poll for
    assert cache.get("short") is None and not cache.has_key("kept")
    assert cache.add("short", "again", timeout=60) and cache.get("short") == "again"
    with pytest.raises(ValueError):
        cache.incr("kept")


WORKER = """
import sys
sys.path.insert(0, {root!r})
from gempool_site import sqlite_cache
from gempool_site.sqlite_cache import SQLiteCache
cache = SQLiteCache({path!r}, {{}})
won = cache.add("turn", sys.argv[1], timeout=60)
for _ in range(200):
    cache.incr("count")
print("won" if won else "lost")
"""


def test_every_instance_for_a_file_shares_the_process_connection(tmp_path, monkeypatch):
    """Django makes a backend per greenlet under gevent: they must not open a connection each."""
    opened = []
    real_connect = sqlite_cache.sqlite3.connect

    def counting_connect(*args, **kwargs):
        opened.append(args[0])
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite_cache.sqlite3, "connect", counting_connect)
    path = str(tmp_path / "one-connection.sqlite3")
    for i in range(5):
        instance = SQLiteCache(path, {})
        instance.set(f"k{i}", i)
        assert instance.incr(f"k{i}") == i + 1
    assert SQLiteCache(path, {}).get_many([f"k{i}" for i in range(5)]) == {f"k{i}": i + 1 for i in range(5)}
    assert opened == [path]
    SQLiteCache(str(tmp_path / "another.sqlite3"), {}).set("x", 1)
    assert opened == [path, str(tmp_path / "another.sqlite3")]


def test_add_and_incr_are_atomic_across_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite3")
    SQLiteCache(path, {}).set("count", 0, timeout=60)
    script = WORKER.format(root=str(ROOT), path=path)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n)], stdout=subprocess.PIPE, text=True)
             for n in range(4)]
    outcomes = sorted(proc.communicate(timeout=60)[0].strip() for proc in procs)
    assert all(proc.returncode == 0 for proc in procs)
    assert outcomes == ["lost", "lost", "lost", "won"]  # one process in the cluster wins an add
    assert SQLiteCache(path, {}).get("count") == 800  # no increment lost
