"""Rows every request reads are kept per process for GEMPOOL_HOT_ROWS_SECONDS, and dropped on a local edit."""
from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from gempool_site import hot_rows
from gempool_site.hot_rows import HotRows


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(hot_rows.time, "monotonic", fake)
    return fake


@pytest.fixture
def loads():
    calls = []

    def load(value="row"):
        def loader():
            calls.append(value)
            return value
        return loader

    load.calls = calls
    return load


def test_a_row_is_read_once_within_the_time_and_again_after_it(settings, clock, loads):
    settings.GEMPOOL_HOT_ROWS_SECONDS = 1.0
    rows = HotRows("test")
    assert rows.get("k", loads("first")) == "first"
    clock.now += 0.9
    assert rows.get("k", loads("second")) == "first"
    clock.now += 0.2
    assert rows.get("k", loads("third")) == "third"
    assert loads.calls == ["first", "third"]


def test_zero_seconds_reads_every_time(settings, loads):
    settings.GEMPOOL_HOT_ROWS_SECONDS = 0
    rows = HotRows("test")
    rows.get("k", loads("a"))
    rows.get("k", loads("b"))
    assert loads.calls == ["a", "b"]


def test_a_miss_is_kept_only_when_asked(settings, loads):
    settings.GEMPOOL_HOT_ROWS_SECONDS = 5
    rows = HotRows("test")
    assert rows.get("gone", loads(None), keep_none=False) is None
    assert rows.get("gone", loads("created since"), keep_none=False) == "created since"
    assert rows.get("unknown", loads(None)) is None
    assert rows.get("unknown", loads("ignored")) is None
    assert loads.calls == [None, "created since", None]


def test_a_read_that_a_clear_overtook_is_not_kept(settings, loads):
    settings.GEMPOOL_HOT_ROWS_SECONDS = 5
    rows = HotRows("test")

    def stale_read():
        rows.forget()  # an edit lands while this read is under way
        return "before the edit"

    assert rows.get("k", stale_read) == "before the edit"
    assert rows.get("k", loads("after the edit")) == "after the edit"


def test_a_flood_of_distinct_names_does_not_grow_the_process_without_bound(settings, monkeypatch):
    settings.GEMPOOL_HOT_ROWS_SECONDS = 5
    monkeypatch.setattr(hot_rows, "MAX_ENTRIES", 10)
    rows = HotRows("test")
    for n in range(25):
        rows.get(n, lambda: None)
    assert len(rows._entries) <= 10


@pytest.mark.django_db(transaction=True)
def test_an_edit_inside_a_transaction_drops_what_was_read_before_it_committed(settings):
    from accounts.models import PoolSettings
    from accounts.upstream import pool_settings_get

    settings.GEMPOOL_HOT_ROWS_SECONDS = 30
    PoolSettings.load()
    with transaction.atomic():
        pool = PoolSettings.load()
        pool.default_model = "gemini-2.5-pro"
        pool.save()
        # Another request reads meanwhile, outside this transaction, and keeps the row as committed so far.
        hot_rows.POOL_SETTINGS.get("row", lambda: "the row before the edit")
    assert pool_settings_get().default_model == "gemini-2.5-pro"


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_requests_read_the_key_model_and_pool_settings_once_per_hot_rows_time(settings, api_key):
    from accounts.models import PoolSettings
    from accounts.services import api_key_verify
    from accounts.upstream import pool_settings_get
    from models_catalog.services import model_lookup

    settings.GEMPOOL_HOT_ROWS_SECONDS = 30
    PoolSettings.load()  # created by the first request of a deployment (a save: nothing kept across it)
    record, raw = api_key
    for _ in range(2):  # the first round reads (and stamps last_used_at), the second finds them kept
        with CaptureQueriesContext(connection) as captured:
            assert api_key_verify(raw=raw).pk == record.pk
            assert model_lookup(name="gemini-2.5-flash").id == "gemini-2.5-flash"
            pool_settings_get()
    assert captured.captured_queries == []


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_edits_in_this_process_apply_to_the_next_request(settings, api_key):
    from accounts.models import PoolSettings
    from accounts.services import api_key_revoke, api_key_verify
    from accounts.upstream import pool_settings_get
    from models_catalog.models import ModelConfig
    from models_catalog.services import model_aliases_set, model_lookup

    settings.GEMPOOL_HOT_ROWS_SECONDS = 30
    record, raw = api_key
    assert api_key_verify(raw=raw) is not None
    assert model_lookup(name="gemini-2.5-flash") is not None and model_lookup(name="fast") is None
    assert pool_settings_get().default_model == ""

    api_key_revoke(api_key=record)
    model = ModelConfig.objects.get(pk="gemini-2.5-flash")
    model_aliases_set(model=model, aliases=["fast"])  # bulk_create: cleared by hand, not by a signal
    pool = PoolSettings.load()
    pool.default_model = "gemini-2.5-pro"
    pool.save()

    assert api_key_verify(raw=raw) is None
    assert model_lookup(name="fast").id == "gemini-2.5-flash"
    assert pool_settings_get().default_model == "gemini-2.5-pro"
    model.enabled = False
    model.save()
    assert model_lookup(name="gemini-2.5-flash") is None


def test_a_jwt_is_read_from_the_shared_cache_once_per_hot_rows_time(settings, clock, monkeypatch):
    from django.core.cache import cache

    from accounts.upstream import CacheTokenStore
    from gemini_enterprise.auth import CachedJwt

    settings.GEMPOOL_HOT_ROWS_SECONDS = 1.0
    writer, reader = CacheTokenStore(), CacheTokenStore()
    writer.put("acct", CachedJwt("first", 100.0), ttl=300)
    hot_rows.JWTS.forget()  # the reader is another process: it has kept nothing yet
    reads = []
    real_get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *a, **kw: reads.append(key) or real_get(key, *a, **kw))
    assert reader.get("acct").token == "first" and reader.get("acct").token == "first"
    assert reads == ["jwt:acct"]

    writer.put("acct", CachedJwt("second", 200.0), ttl=300)  # in this process: kept at once
    assert reader.get("acct").token == "second"
    hot_rows.JWTS.forget()
    cache.set("jwt:acct", "not decryptable")  # another process wrote something this one cannot read
    assert reader.get("acct") is None and reader.get("acct") is None  # a miss is read again, never kept
    assert reads == ["jwt:acct"] * 3
    writer.put("acct", CachedJwt("third", 300.0), ttl=300)
    clock.now += 1.5  # past the time: read from the shared cache again
    assert reader.get("acct").token == "third" and reads == ["jwt:acct"] * 4
