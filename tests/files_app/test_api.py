"""/v1/files in OpenAI's shapes: Django test client for the edges, the official SDK against a live server."""
from __future__ import annotations

import io

import openai
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from files_app.models import StoredFile

from .conftest import PNG

pytestmark = pytest.mark.django_db
FILE_KEYS = {"id", "object", "bytes", "created_at", "filename", "purpose", "status", "status_details",
             "expires_at"}


@pytest.fixture
def auth(api_key):
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key[1]}"}


def _upload(client, auth, data: bytes = b"some notes", name: str = "notes.txt", purpose: str = "assistants",
            content_type: str = "text/plain"):
    return client.post("/v1/files", {"file": SimpleUploadedFile(name, data, content_type=content_type),
                                     "purpose": purpose}, **auth)


def _temp_files(data_dir) -> list:
    return list((data_dir / "uploads" / ".tmp").glob("*")) if (data_dir / "uploads" / ".tmp").exists() else []


def _error(response) -> dict:
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


def test_upload_answers_an_openai_file_object(client, auth, api_key, data_dir):
    response = _upload(client, auth, PNG, "cat.png", "vision", "image/png")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == FILE_KEYS
    assert body["object"] == "file" and body["status"] == "processed"
    assert (body["bytes"], body["filename"], body["purpose"]) == (len(PNG), "cat.png", "vision")
    assert isinstance(body["created_at"], int)
    record = StoredFile.objects.get(pk=body["id"])
    assert record.owner == api_key[0] and record.mime_type == "image/png"
    assert (data_dir / "uploads" / record.storage_name).read_bytes() == PNG
    assert _temp_files(data_dir) == []  # committed by rename, not copied


def test_files_can_be_listed_retrieved_read_and_deleted(client, auth, data_dir):
    first = _upload(client, auth, b"one", "one.txt").json()
    second = _upload(client, auth, b"two", "two.csv", content_type="text/csv").json()
    listing = client.get("/v1/files", **auth).json()
    assert listing["object"] == "list" and listing["has_more"] is False
    assert [f["id"] for f in listing["data"]] == [second["id"], first["id"]]
    assert client.get("/v1/files?limit=1", **auth).json()["has_more"] is True

    assert client.get(f"/v1/files/{first['id']}", **auth).json() == first
    content = client.get(f"/v1/files/{second['id']}/content", **auth)
    assert content.status_code == 200 and b"".join(content.streaming_content) == b"two"
    assert content["Content-Type"] == "text/csv"
    assert content["Content-Disposition"] == 'attachment; filename="two.csv"'

    deleted = client.delete(f"/v1/files/{first['id']}", **auth)
    assert deleted.json() == {"id": first["id"], "object": "file", "deleted": True}
    missing = client.get(f"/v1/files/{first['id']}", **auth)
    assert missing.status_code == 404
    assert _error(missing) == {"message": f"No such File object: {first['id']}", "type": "invalid_request_error",
                               "param": "file_id", "code": "not_found"}


def test_another_keys_file_is_not_found(client, auth):
    from accounts.services import api_key_create

    file_id = _upload(client, auth).json()["id"]
    _, other = api_key_create(name="other")
    other_auth = {"HTTP_AUTHORIZATION": f"Bearer {other}"}
    for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content"):
        assert client.get(path, **other_auth).status_code == 404
    assert client.delete(f"/v1/files/{file_id}", **other_auth).status_code == 404
    assert client.get("/v1/files", **other_auth).json()["data"] == []


def test_every_route_needs_a_key(client):
    for method, path in (("get", "/v1/files"), ("post", "/v1/files"), ("get", "/v1/files/file-x"),
                         ("delete", "/v1/files/file-x"), ("get", "/v1/files/file-x/content")):
        response = getattr(client, method)(path)
        assert response.status_code == 401, path
        assert _error(response)["code"] == "invalid_api_key"


@pytest.mark.parametrize(("form", "param", "message"), [
    ({"purpose": "assistants"}, "file", "No file was submitted"),
    ({"file": "not a file", "purpose": "assistants"}, "file", ""),
    ({"purpose": "gossip", "file": SimpleUploadedFile("a.txt", b"a")}, "purpose", "not a valid choice"),
    ({"purpose": "assistants", "file": SimpleUploadedFile("a.txt", b"")}, "file", "empty"),
])
def test_a_bad_upload_is_a_400_naming_the_field(client, auth, form, param, message, data_dir):
    response = client.post("/v1/files", form, **auth)
    assert response.status_code == 400
    error = _error(response)
    assert error["param"] == param and message in error["message"]
    assert not StoredFile.objects.exists() and _temp_files(data_dir) == []


def test_a_json_body_is_a_415_envelope(client, auth):
    response = client.post("/v1/files", {"purpose": "assistants"}, content_type="application/json", **auth)
    assert response.status_code == 415 and _error(response)["code"] == "unsupported_media_type"


def test_an_upload_over_the_configured_limit_is_a_413_envelope(client, auth, settings, data_dir):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 64 * 1024
    response = _upload(client, auth, b"x" * (64 * 1024 + 1))
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "request_too_large" and error["param"] == "file" and "limit" in error["message"]
    assert not StoredFile.objects.exists() and _temp_files(data_dir) == []
    assert _upload(client, auth, b"x" * (64 * 1024)).status_code == 200


def test_a_25_mb_multipart_against_the_default_20_mb_limit_is_a_413_envelope(client, auth, data_dir):
    response = _upload(client, auth, b"\0" * (25 * 1024 * 1024), "big.bin", content_type="application/octet-stream")
    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"
    assert not StoredFile.objects.exists() and _temp_files(data_dir) == []


def test_djangos_own_body_limits_also_end_as_413_envelopes(client, auth, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    # A huge non-file multipart field: Django's parser raises RequestDataTooBig.
    response = client.post("/v1/files", {"purpose": "a" * 5000, "file": io.BytesIO(b"x")}, **auth)
    assert response.status_code == 413 and _error(response)["code"] == "request_too_large"
    # A urlencoded body past the limit.
    response = client.post("/v1/files", "purpose=" + "a" * 5000,
                           content_type="application/x-www-form-urlencoded", **auth)
    assert response.status_code == 413 and _error(response)["code"] == "request_too_large"


def test_a_declared_absurd_length_is_refused_before_reading(client, auth, settings):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 1024
    response = client.generic("POST", "/v1/files", b"--x\r\n", content_type="multipart/form-data; boundary=x",
                              CONTENT_LENGTH=str(10 * 1024 * 1024), **auth)
    assert response.status_code == 413


# ---- the official SDK against a live server -----------------------------------------------------


@pytest.fixture
def sdk(live_server, api_key):
    with openai.OpenAI(api_key=api_key[1], base_url=live_server.url + "/v1", max_retries=0, timeout=30) as c:
        yield c


@pytest.mark.django_db(transaction=True)
def test_the_openai_sdk_round_trips_a_file(sdk):
    created = sdk.files.create(file=("report.pdf", b"%PDF-1.4 tiny", "application/pdf"), purpose="assistants")
    assert created.object == "file" and created.bytes == 13 and created.filename == "report.pdf"
    assert [f.id for f in sdk.files.list()] == [created.id]
    assert sdk.files.retrieve(created.id).filename == "report.pdf"
    assert sdk.files.content(created.id).content == b"%PDF-1.4 tiny"
    deleted = sdk.files.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id
    with pytest.raises(openai.NotFoundError) as info:
        sdk.files.retrieve(created.id)
    assert info.value.body["param"] == "file_id"


@pytest.mark.django_db(transaction=True)
def test_the_sdk_pages_through_the_list(sdk):
    ids = {sdk.files.create(file=(f"{i}.txt", f"text {i}".encode()), purpose="user_data").id for i in range(3)}
    assert {f.id for f in sdk.files.list(limit=1)} == ids  # auto-pagination follows has_more/after


@pytest.mark.django_db(transaction=True)
def test_the_sdk_sees_typed_errors_for_oversize_and_bad_keys(sdk, settings, live_server):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 256 * 1024
    with pytest.raises(openai.APIStatusError) as info:
        sdk.files.create(file=("big.bin", b"\1" * (512 * 1024)), purpose="assistants")
    assert info.value.status_code == 413 and info.value.code == "request_too_large"
    with openai.OpenAI(api_key="gp-wrong", base_url=live_server.url + "/v1", max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError):
            stranger.files.list()
