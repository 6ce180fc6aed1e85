"""Stored files: keeping bytes, ownership, data: URIs, and upstream copies cached per account and session."""
from __future__ import annotations

import base64
import hashlib
import io
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files_app import services, storage
from files_app.models import INLINE_PURPOSE, StoredFile, UpstreamFile
from gemini_enterprise import errors as upstream_errors
from gempool_site.exceptions import BadRequestError, NotFoundError, PayloadTooLarge

from .conftest import PNG, PNG_DATA_URI

pytestmark = pytest.mark.django_db


def _create(data: bytes = b"hello world\n", *, filename: str = "notes.txt", mime_type: str | None = None,
            owner=None, purpose: str = "assistants") -> StoredFile:
    return services.stored_file_create(upload=io.BytesIO(data), filename=filename, mime_type=mime_type,
                                       purpose=purpose, owner=owner)


def _leftovers(data_dir, area: str = "uploads") -> list[str]:
    return [p.name for p in (data_dir / area / ".tmp").glob("*")] if (data_dir / area / ".tmp").exists() else []


# ---- stored_file_create / from_bytes ------------------------------------------------------------


def test_stored_bytes_live_under_the_data_dir_with_a_relative_name(data_dir):
    record = _create(b"hello world\n")
    assert record.id.startswith("file-") and len(record.id) <= 40
    assert record.size == 12 and record.sha256 == hashlib.sha256(b"hello world\n").hexdigest()
    assert not record.storage_name.startswith("/")
    assert (data_dir / "uploads" / record.storage_name).read_bytes() == b"hello world\n"
    assert StoredFile.objects.get(pk=record.pk).mime_type == "text/plain"
    assert _leftovers(data_dir) == []


def test_files_survive_a_move_of_the_data_dir(data_dir, settings, tmp_path):
    record = _create(b"portable")
    moved = tmp_path / "elsewhere"
    shutil.copytree(data_dir, moved)
    settings.DATA_DIR = moved
    shutil.rmtree(data_dir)
    assert services.stored_file_read(stored_file=StoredFile.objects.get(pk=record.pk)) == b"portable"


@pytest.mark.parametrize(("data", "filename", "declared", "expected"), [
    (PNG, "photo.png", None, "image/png"),
    (PNG, "blob", None, "image/png"),  # no extension: sniffed
    (PNG, "blob", "application/octet-stream", "image/png"),  # generic declared type: sniffed
    (b"%PDF-1.7 ...", "upload", "", "application/pdf"),
    (b"plain words", "README", None, "text/plain"),
    (bytes(range(256)), "dump", None, "application/octet-stream"),
    (b"a,b\n1,2\n", "table.csv", None, "text/csv"),
    (PNG, "x.bin", "Image/PNG; charset=binary", "image/png"),  # declared wins, normalized
])
def test_the_type_is_guessed_when_none_is_declared(data, filename, declared, expected):
    assert _create(data, filename=filename, mime_type=declared).mime_type == expected


def test_a_file_name_keeps_only_its_last_path_component():
    assert _create(filename="C:\\Users\\me\\secret plan.txt").filename == "secret plan.txt"
    assert _create(filename="../../etc/passwd").filename == "passwd"


def test_an_empty_file_is_refused(data_dir):
    with pytest.raises(BadRequestError, match="empty") as info:
        _create(b"")
    assert info.value.param == "file"
    assert StoredFile.objects.count() == 0 and _leftovers(data_dir) == []


def test_a_file_over_the_limit_is_refused_while_streaming(settings, data_dir):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 100_000
    with pytest.raises(PayloadTooLarge, match="too large") as info:
        _create(b"x" * 100_001)
    assert info.value.status == 413 and info.value.param == "file"
    assert StoredFile.objects.count() == 0 and _leftovers(data_dir) == []
    assert _create(b"x" * 100_000).size == 100_000  # exactly the limit is fine


def test_a_declared_oversize_upload_is_refused_before_reading_it(settings):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 10

    class Unreadable(io.BytesIO):
        size = 11

        def read(self, *args):
            raise AssertionError("must not be read")

    with pytest.raises(PayloadTooLarge):
        services.stored_file_create(upload=Unreadable(), filename="a", mime_type=None, purpose="assistants",
                                    owner=None)


def test_django_uploaded_files_are_accepted():
    upload = SimpleUploadedFile("pic.png", PNG, content_type="image/png")
    record = services.stored_file_create(upload=upload, filename=upload.name, mime_type=upload.content_type,
                                         purpose="vision", owner=None)
    assert services.stored_file_read(stored_file=record) == PNG and record.purpose == "vision"


def test_inline_bytes_are_deduplicated_per_owner(api_key):
    key, _ = api_key
    first = services.stored_file_from_bytes(data=PNG, filename="image.png", mime_type="image/png", owner=key)
    again = services.stored_file_from_bytes(data=PNG, filename="image.png", mime_type="image/png", owner=key)
    other = services.stored_file_from_bytes(data=PNG, filename="image.png", mime_type="image/png", owner=None)
    assert first.pk == again.pk != other.pk
    assert first.purpose == INLINE_PURPOSE


def test_inline_bytes_obey_the_size_limit(settings):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 10
    with pytest.raises(PayloadTooLarge):
        services.stored_file_from_bytes(data=b"x" * 11, filename="a", mime_type="text/plain", owner=None)
    with pytest.raises(BadRequestError):
        services.stored_file_from_bytes(data=b"", filename="a", mime_type="text/plain", owner=None)


# ---- get / list / read / delete -----------------------------------------------------------------


def test_a_file_is_visible_to_the_key_that_uploaded_it_only(api_key):
    key, _ = api_key
    from accounts.services import api_key_create

    stranger, _ = api_key_create(name="stranger")
    record = _create(owner=key)
    assert services.stored_file_get(file_id=record.id, owner=key) == record
    assert services.stored_file_get(file_id=record.id, owner=None) == record  # staff
    with pytest.raises(NotFoundError, match=record.id) as info:
        services.stored_file_get(file_id=record.id, owner=stranger)
    assert info.value.param == "file_id" and info.value.status == 404


def test_an_unknown_id_is_not_found():
    with pytest.raises(NotFoundError, match="No such File object: file-nope"):
        services.stored_file_get(file_id="file-nope", owner=None)


def test_the_list_pages_with_after_and_leaves_inline_copies_out(api_key):
    key, _ = api_key
    made = [_create(f"file {i}".encode(), owner=key) for i in range(5)]
    services.stored_file_from_bytes(data=PNG, filename="inline.png", mime_type="image/png", owner=key)
    newest_first = [f.id for f in reversed(made)]
    page, more = services.stored_file_list(owner=key, limit=2)
    assert [f.id for f in page] == newest_first[:2] and more
    page, more = services.stored_file_list(owner=key, limit=10, after=page[-1].id)
    assert [f.id for f in page] == newest_first[2:] and not more
    page, _ = services.stored_file_list(owner=key, order="asc", limit=2, after=made[0].id)
    assert [f.id for f in page] == [made[1].id, made[2].id]
    assert services.stored_file_list(owner=key, purpose="vision")[0] == []
    with pytest.raises(BadRequestError):
        services.stored_file_list(owner=key, after="file-unknown")


def test_delete_removes_the_row_then_the_bytes_after_commit(data_dir, django_capture_on_commit_callbacks):
    record = _create(b"bye")
    path = data_dir / "uploads" / record.storage_name
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.stored_file_delete(stored_file=record)
    assert not StoredFile.objects.filter(pk=record.pk).exists()
    assert path.exists()  # not before the commit: a rollback must not lose the bytes
    for callback in callbacks:
        callback()
    assert not path.exists()


def test_reading_a_file_whose_bytes_vanished_is_a_clear_not_found(data_dir):
    record = _create(b"soon gone")
    storage.delete(storage.UPLOADS, record.storage_name)
    with pytest.raises(NotFoundError, match="no longer available"):
        services.stored_file_read(stored_file=record)


def test_a_file_written_by_another_instance_is_read_from_the_database(data_dir):
    record = _create(b"x" * (storage.DB_CHUNK_SIZE + 5))  # two chunks
    (data_dir / "uploads" / record.storage_name).unlink()
    assert services.stored_file_read(stored_file=record) == b"x" * (storage.DB_CHUNK_SIZE + 5)


def test_storage_refuses_names_that_escape_its_folder():
    for name in ("../secret", "/etc/passwd", "a/../../b", "", "a\x00b"):
        with pytest.raises(ValueError):
            storage.path_for(storage.UPLOADS, name)


# ---- data: URIs ---------------------------------------------------------------------------------


def test_a_data_uri_decodes_to_bytes_and_type():
    assert services.data_uri_decode(PNG_DATA_URI) == (PNG, "image/png")


def test_a_data_uri_without_a_type_is_sniffed_and_line_breaks_and_missing_padding_are_tolerated():
    encoded = base64.b64encode(PNG).decode().rstrip("=")
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    assert services.data_uri_decode(f"data:;base64,{wrapped}") == (PNG, "image/png")


@pytest.mark.parametrize(("uri", "message"), [
    ("http://example.com/a.png", "expected data:"),
    ("data:image/png,rawbytes", "only base64"),
    ("data:image/png;base64,@@@@", "not valid base64"),
    ("data:image/png;base64,aGVsbG8-d29ybGQ_", "not valid base64"),  # URL-safe alphabet is not base64
    ("data:image/png;base64,a", "not valid base64"),
    ("data:image/png;base64,", "empty"),
    ("data:not a type;base64,aGVsbG8=", "not a valid MIME type"),
])
def test_a_bad_data_uri_is_an_invalid_request_naming_the_param(uri, message):
    with pytest.raises(BadRequestError, match=message) as info:
        services.data_uri_decode(uri, param="messages[0].content[1].image_url")
    assert info.value.param == "messages[0].content[1].image_url" and info.value.status == 400


def test_an_oversize_data_uri_is_refused_before_decoding(settings):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(PayloadTooLarge) as info:
        services.data_uri_decode("data:image/png;base64," + "A" * 4000)
    assert info.value.param == "image_url"


# ---- upstream copies (against the simulator) ----------------------------------------------------


def _uploads(sim) -> int:
    return sim.stats()["requests"].get("addContextFile", 0)


def test_a_file_is_uploaded_once_per_account_and_session(upstream, sim, sim_account):
    account, creds = sim_account()
    record = _create(b"quarterly numbers", filename="q.txt")
    session = upstream.create_session(creds)
    before = _uploads(sim)
    first = services.upstream_file_id_for(client=upstream, creds=creds, account=account, session=session,
                                          stored_file=record)
    again = services.upstream_file_id_for(client=upstream, creds=creds, account=account, session=session,
                                          stored_file=record)
    assert first == again and _uploads(sim) == before + 1
    listed = upstream.list_file_metadata(creds, session=session, origin="USER_UPLOADED")
    assert [(m.file_id, m.name, m.mime_type) for m in listed] == [(first, "q.txt", "text/plain")]

    other_session = upstream.create_session(creds)
    elsewhere = services.upstream_file_id_for(client=upstream, creds=creds, account=account,
                                              session=other_session, stored_file=record)
    other_account, other_creds = sim_account()
    other_account_session = upstream.create_session(other_creds)
    services.upstream_file_id_for(client=upstream, creds=other_creds, account=other_account,
                                  session=other_account_session, stored_file=record)
    assert elsewhere != first and _uploads(sim) == before + 3
    assert UpstreamFile.objects.filter(stored_file=record).count() == 3


def test_the_upstream_copy_works_in_an_answer_after_a_client_restart(upstream, sim_account):
    from accounts.upstream import get_client, reset_client

    account, creds = sim_account()
    record = _create(b"restart-proof", filename="r.txt")
    reset_client()  # as after a process restart: nothing kept in memory
    client = get_client()
    session = client.create_session(creds)
    file_id = services.upstream_file_id_for(client=client, creds=creds, account=account, session=session,
                                            stored_file=StoredFile.objects.get(pk=record.pk))
    with client.stream_assist(creds, session=session, query="[[sim:echo]] hi", file_ids=[file_id]) as stream:
        events = list(stream)
    assert events  # the simulator refuses unknown file ids with a 400 before streaming


def test_losing_the_upload_race_returns_the_winners_id(upstream, sim_account, monkeypatch):
    account, creds = sim_account()
    record = _create(b"contended")
    session = upstream.create_session(creds)
    real_upload = upstream.add_context_file

    def upload_while_another_request_wins(*args, **kwargs):
        result = real_upload(*args, **kwargs)
        UpstreamFile.objects.create(stored_file=record, account=account, session=session,
                                    upstream_file_id="winner-id")
        return result

    monkeypatch.setattr(upstream, "add_context_file", upload_while_another_request_wins)
    assert services.upstream_file_id_for(client=upstream, creds=creds, account=account, session=session,
                                         stored_file=record) == "winner-id"
    assert UpstreamFile.objects.filter(stored_file=record).count() == 1


def test_an_unsupported_type_surfaces_the_upstream_invalid_request(upstream, sim_account):
    account, creds = sim_account()
    record = _create(bytes(range(256)), filename="blob")  # application/octet-stream
    session = upstream.create_session(creds)
    with pytest.raises(upstream_errors.InvalidRequest, match="Unsupported file type"):
        services.upstream_file_id_for(client=upstream, creds=creds, account=account, session=session,
                                      stored_file=record)
    assert not UpstreamFile.objects.exists()


# ---- image_url parts ----------------------------------------------------------------------------


def test_an_inline_image_url_becomes_a_stored_file(api_key):
    record = services.stored_file_from_image_url(url=PNG_DATA_URI, owner=api_key[0])
    assert (record.filename, record.mime_type, record.purpose) == ("image.png", "image/png", INLINE_PURPOSE)
    assert services.stored_file_read(stored_file=record) == PNG


def test_a_remote_image_url_is_fetched_through_the_safe_fetcher(monkeypatch):
    seen = {}

    def fake_fetch(url, *, param):
        seen.update(url=url, param=param)
        return PNG, "image/png"

    monkeypatch.setattr(services, "fetch_image_url", fake_fetch)
    record = services.stored_file_from_image_url(url="https://cdn.example/pics/cat", owner=None, param="p")
    assert seen == {"url": "https://cdn.example/pics/cat", "param": "p"}
    assert record.filename == "cat.png" and record.mime_type == "image/png"


def test_a_refused_image_url_is_an_invalid_request():
    with pytest.raises(BadRequestError, match="only http and https") as info:
        services.stored_file_from_image_url(url="file:///etc/passwd", owner=None, param="messages[0]")
    assert info.value.param == "messages[0]"
