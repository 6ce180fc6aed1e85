"""Generated media: storing, fetching from the upstream, serving at /image/<name>, pruning."""
from __future__ import annotations

import io
import logging
import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from files_app import media, services, storage
from files_app.models import INLINE_PURPOSE, GeneratedMedia, StoredFile
from gemini_enterprise.simulator.media import fake_mp4
from gemini_enterprise.types import GeneratedFile

from .conftest import PNG

pytestmark = pytest.mark.django_db
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)


def _store(data: bytes = PNG, mime: str = "image/png") -> GeneratedMedia:
    return media.media_store(data=data, mime_type=mime, account=None, upstream_file_id="up-1")


def _stored_bytes(name: str) -> bytes:
    with storage.open_read(storage.MEDIA, storage.sharded(name)) as handle:
        return handle.read()


def _age(item: GeneratedMedia | StoredFile, hours: float) -> None:
    type(item).objects.filter(pk=item.pk).update(created_at=timezone.now() - timedelta(hours=hours))


# ---- media_store / media_url --------------------------------------------------------------------


@pytest.mark.parametrize(("data", "declared", "mime", "ext"), [
    (PNG, "image/png", "image/png", "png"),
    (JPEG, "image/jpeg", "image/jpeg", "jpg"),
    (PNG, "image/jpeg", "image/png", "png"),  # the bytes win over a wrong label
    (fake_mp4(), "video/mp4", "video/mp4", "mp4"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "", "image/webp", "webp"),
])
def test_media_gets_a_random_name_with_the_right_extension(data, declared, mime, ext, data_dir):
    item = _store(data, declared)
    assert media.MEDIA_NAME_RE.match(item.name) and item.name.endswith("." + ext)
    assert item.mime_type == mime and item.size == len(data)
    assert (data_dir / "media" / storage.sharded(item.name)).read_bytes() == data
    assert _store(data, declared).name != item.name


def test_media_that_cannot_be_served_is_refused(data_dir):
    with pytest.raises(media.MediaUnsupported):
        _store(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    assert not GeneratedMedia.objects.exists()


def test_media_url_joins_the_base_and_the_name():
    item = _store()
    assert media.media_url(media=item, base_url="https://gw.example/") == f"https://gw.example/image/{item.name}"
    assert services.media_url(media=item, base_url="http://h:8000") == f"http://h:8000/image/{item.name}"


# ---- media_fetch_generated (simulator) ----------------------------------------------------------


def _generate(client, creds, directive: str = "[[sim:image]]") -> tuple[str, list[GeneratedFile]]:
    session = client.create_session(creds)
    with client.stream_assist(creds, session=session, query=f"{directive} a cat") as stream:
        files = [event for event in stream if isinstance(event, GeneratedFile)]
    assert files
    return session, files


def test_generated_files_are_downloaded_once_and_cached(upstream, sim_account, sim):
    account, creds = sim_account()
    session, files = _generate(upstream, creds, "[[sim:image]] [[sim:video]]")
    stored = services.media_fetch_generated(client=upstream, creds=creds, account=account, session=session,
                                            files=files + files)  # duplicates collapse
    assert [m.mime_type for m in stored] == ["image/png", "video/mp4"]
    assert [m.upstream_file_id for m in stored] == [f.file_id for f in files]
    assert _stored_bytes(stored[0].name) == PNG
    assert stored[0].account == account


def test_base64_text_downloads_are_stored_as_real_bytes(upstream, sim_account, sim):
    account, creds = sim_account()
    session, files = _generate(upstream, creds)
    sim.add_fault("base64", csesidx=creds.csesidx, count=1)
    [item] = media.media_fetch_generated(client=upstream, creds=creds, account=account, session=session,
                                         files=files)
    assert _stored_bytes(item.name) == PNG


def test_a_file_missing_from_the_metadata_is_retried_then_skipped(upstream, sim_account, caplog, monkeypatch):
    account, creds = sim_account()
    session, files = _generate(upstream, creds)
    ghost = GeneratedFile(file_id="999", mime_type="image/png")
    calls, sleeps = [], []
    real_list = upstream.list_file_metadata
    monkeypatch.setattr(upstream, "list_file_metadata", lambda *a, **k: calls.append(k) or real_list(*a, **k))
    with caplog.at_level(logging.WARNING, logger="files_app.media"):
        stored = media.media_fetch_generated(client=upstream, creds=creds, account=account, session=session,
                                             files=[ghost, *files], sleep=sleeps.append)
    assert [m.upstream_file_id for m in stored] == [files[0].file_id]
    assert len(calls) == media.METADATA_ATTEMPTS and sleeps == [media.METADATA_RETRY_DELAY] * 2
    assert all(call["origin"] == "AI_GENERATED" for call in calls)
    assert "missing from the session's metadata" in caplog.text


def test_an_upstream_failure_skips_the_file_or_raises_when_strict(upstream, sim_account, sim):
    from gemini_enterprise.errors import UpstreamError

    account, creds = sim_account()
    session, files = _generate(upstream, creds)
    sim.add_fault("503", csesidx=creds.csesidx, endpoint="downloadFile")
    try:
        assert media.media_fetch_generated(client=upstream, creds=creds, account=account, session=session,
                                           files=files) == []
        with pytest.raises(UpstreamError):
            media.media_fetch_generated(client=upstream, creds=creds, account=account, session=session,
                                        files=files, strict=True)
    finally:
        sim.clear_faults(creds.csesidx)
    assert not GeneratedMedia.objects.exists()


def test_nothing_to_fetch_makes_no_upstream_call():
    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError(f"unexpected call {name}")

    assert media.media_fetch_generated(client=NoCalls(), creds=None, account=None, session="s", files=[]) == []


# ---- /image/<name> ------------------------------------------------------------------------------


def test_the_image_is_served_with_its_type_and_safe_headers(client):
    item = _store()
    response = client.get(f"/image/{item.name}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in response["Cache-Control"]
    assert client.head(f"/image/{item.name}").status_code == 200
    assert client.post(f"/image/{item.name}").status_code == 405


@pytest.mark.parametrize("path", [
    "/image/AAAAAAAAAAAAAAAAAAAAAAAA.png",  # well-formed but unknown
    "/image/short.png",
    "/image/AAAAAAAAAAAAAAAAAAAAAAAA.svg",
    "/image/AAAAAAAAAAAAAAAAAAAAAAAA.png.html",
    "/image/../../etc/passwd",
    "/image/..%2f..%2fetc%2fpasswd",
    "/image/%2e%2e/%2e%2e/gempool.sqlite3",
    "/image/%2e%2e%2fsecret_key",
    "/image//etc/passwd",
    "/image/%2Fetc%2Fpasswd",
    "/image/AAAAAAAAAAAAAAAAAAAAAAAA%00.png",
    "/image/AAAAAAAAAAAAAAAAAAAAAAAA.png%00",
    "/image/..\\..\\secret_key",
    "/image/",
])
def test_any_unknown_or_tricky_name_is_a_json_404(client, path):
    _store()
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_media_whose_bytes_were_pruned_is_a_404(client, data_dir):
    item = _store()
    storage.delete(storage.MEDIA, storage.sharded(item.name))
    assert client.get(f"/image/{item.name}").status_code == 404


def test_media_missing_from_this_instance_is_refilled_from_the_database(client, data_dir):
    item = _store()
    local = data_dir / "media" / storage.sharded(item.name)
    original = local.read_bytes()
    local.unlink()  # another instance wrote it; this one has never seen the bytes
    response = client.get(f"/image/{item.name}")
    assert response.status_code == 200 and b"".join(response.streaming_content) == original
    assert local.read_bytes() == original


# ---- pruning ------------------------------------------------------------------------------------


def test_prune_removes_old_media_and_inline_copies_with_their_bytes(data_dir, settings,
                                                                    django_capture_on_commit_callbacks):
    settings.GEMPOOL_MEDIA_RETENTION_HOURS = 24
    old, fresh = _store(), _store()
    _age(old, 25)
    old_inline = services.stored_file_from_bytes(data=b"old inline", filename="a", mime_type="text/plain",
                                                 owner=None)
    _age(old_inline, 25)
    upload = services.stored_file_create(upload=io.BytesIO(b"kept"), filename="k.txt", mime_type=None,
                                         purpose="assistants", owner=None)
    _age(upload, 1000)  # uploads through /v1/files live until deleted
    with django_capture_on_commit_callbacks(execute=True):
        assert media.media_prune() == 2
    assert list(GeneratedMedia.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not (data_dir / "media" / storage.sharded(old.name)).exists()
    assert (data_dir / "media" / storage.sharded(fresh.name)).exists()
    assert not StoredFile.objects.filter(purpose=INLINE_PURPOSE).exists()
    assert not (data_dir / "uploads" / old_inline.storage_name).exists()
    assert StoredFile.objects.filter(pk=upload.pk).exists()
    assert media.media_prune(older_than_hours=0) == 1


def test_prune_respects_its_limit():
    for item in [_store() for _ in range(3)]:
        _age(item, 1000)
    assert media.media_prune(limit=2) == 2
    assert GeneratedMedia.objects.count() == 1


def test_prune_clears_temp_files_a_crash_left_behind(data_dir):
    staged = storage.StagedWrite(storage.MEDIA)
    staged.write(b"half")
    stale = time.time() - 7200
    os.utime(staged.temp_path, (stale, stale))
    media.media_prune()
    assert not staged.temp_path.exists()


def test_the_prunemedia_command_reports_and_removes_orphans(data_dir, django_capture_on_commit_callbacks):
    old = _store()
    _age(old, 1000)
    orphan = data_dir / "media" / "zz" / "zzzzzzzzzzzzzzzzzzzzzzzz.png"
    orphan.parent.mkdir(parents=True, exist_ok=True)  # old's own folder may be "zz" too
    orphan.write_bytes(PNG)
    os.utime(orphan, (0, 0))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("prunemedia", "--orphans", stdout=out)
    assert out.getvalue().splitlines() == ["Removed 1 expired file(s).", "Removed 1 orphaned file(s)."]
    assert not orphan.exists()
    assert not (data_dir / "media" / storage.sharded(old.name)).exists()
