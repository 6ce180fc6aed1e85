"""gempool's SQLite backend: closed connections are reused, and nothing leaks from one user to the next."""
from __future__ import annotations

import inspect
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest
from django.db import connection, connections, transaction

from gempool_site.db_backends.sqlite3 import base as pooled

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend only")]


def _in_thread(work):
    """Run work() on a fresh thread (its own Django connection) and return its result, or raise its error."""
    out = {}

    def run():
        try:
            out["value"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the calling thread, which raises it
            out["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _raw_connection():
    connection.ensure_connection()
    return connection.connection


def test_a_closed_connection_is_reused_by_the_next_thread():
    first = _in_thread(_raw_connection)
    second = _in_thread(_raw_connection)
    assert first is second


def test_an_open_transaction_is_rolled_back_before_reuse(make_account):
    account = make_account(label="before")

    def leave_a_write_open():
        connection.ensure_connection()
        raw = connection.connection
        raw.execute("BEGIN")
        raw.execute("UPDATE accounts_account SET label = 'half-done' WHERE id = ?", [account.pk])
        assert raw.in_transaction
        return raw

    raw = _in_thread(leave_a_write_open)
    assert raw.in_transaction is False
    account.refresh_from_db()
    assert account.label == "before"


def test_a_connection_closed_inside_atomic_is_not_reused():
    def close_inside_atomic():
        with pytest.raises(Exception), transaction.atomic():  # noqa: B017,PT011 - Django's own error
            raw = connection.connection or _raw_connection()
            connection.close()
            connection.cursor()
        return raw

    raw = _in_thread(close_inside_atomic)
    assert raw not in pooled.idle_connections(connection.settings_dict["NAME"])._idle


def test_a_reused_connection_checks_foreign_keys_again():
    def turn_checks_off():
        connection.disable_constraint_checking()
        return _raw_connection()

    raw = _in_thread(turn_checks_off)
    assert _in_thread(_raw_connection) is raw
    assert raw.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_reusing_a_connection_with_checks_on_runs_no_statement():
    raw = _in_thread(_raw_connection)
    statements: list[str] = []
    raw.set_trace_callback(statements.append)
    try:
        assert _in_thread(_raw_connection) is raw
        assert statements == []  # no flag PRAGMA either: SQLite compiles every prepared statement again after
        #                          one is set, even to its current value
        _in_thread(_write_one)
    finally:
        raw.set_trace_callback(None)
    assert statements[0] == "BEGIN IMMEDIATE"


def _write_one():
    with connection.write_transaction() as cursor:
        cursor.execute("SELECT 1")


def test_checks_turned_off_and_on_again_cost_no_statement_when_the_connection_is_given_back():
    def off_and_on():
        connection.disable_constraint_checking()
        connection.enable_constraint_checking()
        raw = _raw_connection()
        statements: list[str] = []
        raw.set_trace_callback(statements.append)
        connection.close()
        raw.set_trace_callback(None)
        return raw, statements

    raw, statements = _in_thread(off_and_on)
    assert statements == [] and _in_thread(_raw_connection) is raw


def test_the_idle_list_is_bounded():
    idle = pooled.IdleConnections()
    conns = [object() for _ in range(pooled.IDLE_MAX + 1)]
    kept = [idle.give(c) for c in conns]  # type: ignore[arg-type]
    assert kept.count(True) == pooled.IDLE_MAX and kept[-1] is False
    assert idle.take() is conns[pooled.IDLE_MAX - 1]


def test_placeholders_convert_as_djangos_cursor_does_and_the_result_is_reused():
    query = "SELECT %s, '100%%' WHERE 1 = %s"
    with connection.cursor() as cursor:
        cursor.execute(query, [7, 1])
        assert cursor.fetchone() == (7, "100%")
        # Named ("pyformat") parameters still take Django's own path.
        cursor.execute("SELECT %(a)s + %(b)s", {"a": 2, "b": 3})
        assert cursor.fetchone() == (5,)
    hits = pooled._qmark_query.cache_info().hits
    with connection.cursor() as cursor:
        cursor.execute(query, [8, 1])
        assert cursor.fetchone() == (8, "100%")
    assert pooled._qmark_query.cache_info().hits == hits + 1


# ---- the Django internals the backend overrides: an upgrade that moves one fails here by name ----------------


def _parameters(function) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_djangos_query_conversion_is_still_the_one_the_cursor_wrapper_memoises():
    from django.db.backends.sqlite3 import base as django_sqlite

    keyword_only = inspect.Parameter.KEYWORD_ONLY
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    empty = inspect.Parameter.empty
    assert _parameters(django_sqlite.SQLiteCursorWrapper.convert_query) == [
        ("self", positional, empty), ("query", positional, empty), ("param_names", keyword_only, None)]
    source = inspect.getsource(django_sqlite.SQLiteCursorWrapper.execute)
    assert "self.convert_query(query, param_names=param_names)" in source
    assert django_sqlite.FORMAT_QMARK_REGEX.sub("?", "a = %s AND b LIKE '5%%'") == "a = ? AND b LIKE '5%%'"


def test_closing_a_connection_still_goes_through_close_underscore(monkeypatch):
    from django.db.backends.base.base import BaseDatabaseWrapper

    assert _parameters(BaseDatabaseWrapper._close) == [("self", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                        inspect.Parameter.empty)]
    calls = []
    original = pooled.DatabaseWrapper._close
    monkeypatch.setattr(pooled.DatabaseWrapper, "_close", lambda self: calls.append(True) or original(self))
    connection.ensure_connection()
    connection.close()
    assert calls == [True] and connection.connection is None


def test_destroying_a_test_database_still_goes_through_destroy_test_db():
    from django.db.backends.base.creation import BaseDatabaseCreation

    positional, empty = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty
    assert _parameters(BaseDatabaseCreation._destroy_test_db) == [
        ("self", positional, empty), ("test_database_name", positional, empty), ("verbosity", positional, empty)]
    assert "self._destroy_test_db(" in inspect.getsource(BaseDatabaseCreation.destroy_test_db)


def _update_in_atomic(value: int) -> None:
    from accounts.models import PoolSettings

    with transaction.atomic():
        PoolSettings.objects.update(cooldown_base_seconds=value)


def _update_in_write_transaction(value: int) -> None:
    with connection.write_transaction() as cursor:
        cursor.execute("UPDATE accounts_poolsettings SET cooldown_base_seconds = %s", [value])


@pytest.mark.parametrize("update", [_update_in_atomic, _update_in_write_transaction],
                         ids=["atomic", "write_transaction"])
def test_under_gevent_a_transaction_waits_for_the_write_lock_with_a_cooperative_sleep(monkeypatch, update):
    """Another process holds SQLite's write lock: BEGIN is retried after sleeps that let other greenlets run
    (the busy handler would sleep inside C), and the transaction goes ahead once the lock is free."""
    from accounts.models import PoolSettings

    PoolSettings.objects.create()
    slept = threading.Event()

    def sleep(seconds: float) -> None:
        slept.set()
        time.sleep(seconds)

    monkeypatch.setattr(pooled, "under_gevent", lambda: True)
    monkeypatch.setattr(pooled, "time", SimpleNamespace(sleep=sleep, monotonic=time.monotonic))
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    thread = threading.Thread(target=_in_thread, args=(lambda: update(77),))
    thread.start()
    assert slept.wait(10), "the transaction did not wait in Python for the lock"
    holder.execute("COMMIT")
    holder.close()
    thread.join(10)
    assert PoolSettings.objects.get().cooldown_base_seconds == 77
    # SQLite's own wait is back for every other statement on the connections it used
    assert {conn.execute("PRAGMA busy_timeout").fetchone()[0] for conn in _idle()} == {pooled.BUSY_TIMEOUT_MS}


def test_atomic_still_begins_transactions_through_start_transaction_under_autocommit():
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.sqlite3.base import DatabaseWrapper as DjangoSQLite

    assert "self._start_transaction_under_autocommit()" in inspect.getsource(BaseDatabaseWrapper.set_autocommit)
    assert _parameters(DjangoSQLite._start_transaction_under_autocommit) == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty)]


def _idle() -> list:
    return pooled.idle_connections(connection.settings_dict["NAME"])._idle


def _cooldown_base() -> int:
    from accounts.models import PoolSettings

    return PoolSettings.objects.get().cooldown_base_seconds


def test_a_write_transaction_outside_atomic_commits_on_an_idle_connection_and_leaves_the_threads_unopened():
    from accounts.models import PoolSettings

    PoolSettings.objects.create()
    raw = _in_thread(_raw_connection)  # now the idle list's most recent

    def write():
        with connection.write_transaction() as cursor:
            cursor.execute("UPDATE accounts_poolsettings SET cooldown_base_seconds = %s", [61])
            in_transaction = raw.in_transaction
        return in_transaction, connection.connection

    assert _in_thread(write) == (True, None)  # it ran on the idle connection; its own was never opened
    assert raw.in_transaction is False and raw in _idle()  # committed, and back for the next borrower
    assert _cooldown_base() == 61


def test_a_write_transaction_inside_atomic_runs_in_the_callers_transaction():
    from accounts.models import PoolSettings

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        PoolSettings.objects.create(cooldown_base_seconds=5)  # not committed: only this connection sees it
        with connection.write_transaction() as cursor:
            cursor.execute("UPDATE accounts_poolsettings SET cooldown_base_seconds = cooldown_base_seconds + %s", [1])
            assert cursor.rowcount == 1
        assert _cooldown_base() == 6
        raise Undo
    assert not PoolSettings.objects.exists()  # it went with the caller's transaction


def test_a_write_transaction_that_raises_is_rolled_back_and_its_connection_closed():
    from accounts.models import PoolSettings

    PoolSettings.objects.create(cooldown_base_seconds=7)
    raw = _in_thread(_raw_connection)

    def fail_halfway():
        with connection.write_transaction() as cursor:
            cursor.execute("UPDATE accounts_poolsettings SET cooldown_base_seconds = %s", [99])
            raise LookupError("the caller's own bug")

    with pytest.raises(LookupError, match="own bug"):
        _in_thread(fail_halfway)
    assert _cooldown_base() == 7
    assert raw not in _idle()
    with pytest.raises(sqlite3.ProgrammingError):  # closed: nobody borrows a connection in an unknown state
        raw.execute("SELECT 1")


def test_a_write_transaction_reports_database_errors_as_djangos():
    from django.db import OperationalError

    def bad_sql():
        with connection.write_transaction() as cursor:
            cursor.execute("UPDATE no_such_table SET x = %s", [1])

    with pytest.raises(OperationalError, match="no_such_table"):
        _in_thread(bad_sql)


def test_a_write_transactions_statements_are_logged_while_queries_are_being_counted():
    from django.test.utils import CaptureQueriesContext

    from accounts.models import PoolSettings

    PoolSettings.objects.create()

    def write_counted() -> list[str]:
        with CaptureQueriesContext(connection) as captured, connection.write_transaction() as cursor:
            cursor.execute("UPDATE accounts_poolsettings SET cooldown_base_seconds = %s", [62])
        return [query["sql"] for query in captured.captured_queries]

    assert _in_thread(write_counted) == ["UPDATE accounts_poolsettings SET cooldown_base_seconds = 62"]
