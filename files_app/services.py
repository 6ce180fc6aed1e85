"""Files clients give us (uploads and inline data: URIs) and their copies in upstream sessions.

gempool keeps the bytes itself, so a file referenced in a chat can be uploaded into whichever account and
session serves that chat (upstream file ids only live inside one session), after a restart or a failover
alike. Generated media services live in files_app.media and are re-exported here, so callers import every
files service from this one module.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from files_app import content_types, storage
from files_app.media import (
    media_await_listed,
    media_fetch_generated,
    media_open,
    media_prune,
    media_prune_orphans,
    media_url,
)
from files_app.models import INLINE_PURPOSE, StoredFile, UpstreamFile
from files_app.safe_fetch import fetch_image_url
from files_app.uploads import StagedUpload, too_large_error
from gempool_site.exceptions import BadRequestError, NotFoundError

if TYPE_CHECKING:
    from accounts.models import Account, ApiKey
    from gemini_enterprise.client import GeminiClient
    from gemini_enterprise.types import Credentials

logger = logging.getLogger(__name__)

__all__ = [
    "data_uri_decode",
    "fetch_image_url",
    "media_await_listed",
    "media_fetch_generated",
    "media_open",
    "media_prune",
    "media_prune_orphans",
    "media_url",
    "stored_file_create",
    "stored_file_delete",
    "stored_file_from_bytes",
    "stored_file_from_image_url",
    "stored_file_get",
    "stored_file_list",
    "stored_file_open",
    "stored_file_read",
    "upstream_file_id_for",
]

FILENAME_MAX = 255
DATA_URI_RE = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)$", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")


def _new_file_id() -> str:
    return "file-" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")  # 24 chars, OpenAI-like


def _clean_filename(filename: str) -> str:
    # Keep the last path component only (browsers on Windows send C:\...\name) and no control characters.
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return (name or "upload")[-FILENAME_MAX:]


def _limit() -> int:
    return settings.GEMPOOL_MAX_UPLOAD_BYTES


# ---- stored files -------------------------------------------------------------------------------


def stored_file_create(*, upload: Any, filename: str, mime_type: str | None, purpose: str,
                       owner: ApiKey | None) -> StoredFile:
    """Keep an uploaded file: bytes in storage's "uploads" area, a StoredFile row for its metadata.

    `upload` is a Django UploadedFile (a StagedUpload from StagingUploadHandler is committed without
    another copy) or any binary file-like. The type is the declared one unless missing or generic, then
    guessed from the name and content. Raises PayloadTooLarge past GEMPOOL_MAX_UPLOAD_BYTES and
    BadRequestError for an empty file.
    """
    staged = _stage(upload)
    if staged.size == 0:
        staged.abort()
        raise BadRequestError("The uploaded file is empty.", param="file")
    return _persist(staged, filename=filename, mime_type=mime_type, purpose=purpose, owner=owner)


def _stage(upload: Any) -> storage.StagedWrite:
    limit = _limit()
    if isinstance(upload, StagedUpload):
        if upload.too_large or upload.staged.size > limit:
            upload.close()
            raise too_large_error(limit)
        return upload.staged
    if (getattr(upload, "size", None) or 0) > limit:
        raise too_large_error(limit)  # refuse before copying a byte
    staged = storage.StagedWrite(storage.UPLOADS, max_bytes=limit)
    try:
        staged.write_all(storage.iter_chunks(upload))
    except storage.TooLarge:
        raise too_large_error(limit) from None
    return staged


def _persist(staged: storage.StagedWrite, *, filename: str, mime_type: str | None, purpose: str,
             owner: ApiKey | None) -> StoredFile:
    filename = _clean_filename(filename)
    record = StoredFile(id=_new_file_id(), filename=filename, purpose=purpose, size=staged.size,
                        sha256=staged.sha256, owner=owner,
                        mime_type=content_types.guess(declared=mime_type, filename=filename, head=staged.head))
    record.storage_name = storage.sharded(record.id[5:]) + ".bin"
    try:
        staged.commit(record.storage_name)
        record.save(force_insert=True)
    except BaseException:
        staged.abort()
        storage.delete(storage.UPLOADS, record.storage_name)
        raise
    logger.info("file stored", extra={"file_id": record.id, "bytes": record.size, "mime": record.mime_type})
    return record


def stored_file_from_bytes(*, data: bytes, filename: str, mime_type: str, owner: ApiKey | None,
                           purpose: str = INLINE_PURPOSE) -> StoredFile:
    """Keep bytes given inline (a data: URI): same limit and storage as uploads.

    Inline files are deduplicated per owner by content, because chat clients resend the whole
    conversation, images included, on every turn. A reused row is at most half the media retention old,
    so media_prune (which removes inline files past the retention) cannot pull it from under the caller.
    """
    limit = _limit()
    if len(data) > limit:
        raise too_large_error(limit, param=None)
    if not data:
        raise BadRequestError("The inline file is empty.")
    if purpose == INLINE_PURPOSE:
        existing = _recent_inline_copy(data, owner)
        if existing is not None:
            return existing
    staged = storage.StagedWrite(storage.UPLOADS)
    staged.write_all(data[i:i + storage.CHUNK_SIZE] for i in range(0, len(data), storage.CHUNK_SIZE))
    return _persist(staged, filename=filename, mime_type=mime_type, purpose=purpose, owner=owner)


def stored_file_from_image_url(*, url: str, owner: ApiKey | None, param: str | None = "image_url") -> StoredFile:
    """An `image_url` content part as a StoredFile: a data: URI is decoded, an http(s) URL fetched safely.

    Raises BadRequestError / PayloadTooLarge naming `param`. Fetching is network I/O: no transaction open.
    """
    if url.lstrip()[:5].lower() == "data:":
        data, mime = data_uri_decode(url.strip(), param=param)
        filename = "image"
    else:
        data, mime = fetch_image_url(url.strip(), param=param)
        path = urlsplit(url.strip()).path  # parsed fine already, or the fetch would have refused it
        filename = _clean_filename(path) if path.strip("/") else "image"
    if "." not in filename:
        filename += mimetypes.guess_extension(mime, strict=False) or ""
    return stored_file_from_bytes(data=data, filename=filename, mime_type=mime, owner=owner)


def _recent_inline_copy(data: bytes, owner: ApiKey | None) -> StoredFile | None:
    fresh_after = timezone.now() - timedelta(hours=settings.GEMPOOL_MEDIA_RETENTION_HOURS / 2)
    return (StoredFile.objects.filter(sha256=hashlib.sha256(data).hexdigest(), owner=owner, size=len(data),
                                      purpose=INLINE_PURPOSE, created_at__gte=fresh_after)
            .order_by("-created_at").first())


def _visible(owner: ApiKey | None) -> QuerySet[StoredFile]:
    files = StoredFile.objects.all()
    return files if owner is None else files.filter(owner=owner)


def stored_file_get(*, file_id: str, owner: ApiKey | None) -> StoredFile:
    """The file with this id that `owner` uploaded (owner None: any file, for staff); else NotFoundError."""
    record = _visible(owner).filter(pk=file_id).first() if isinstance(file_id, str) else None
    if record is None:
        raise NotFoundError(f"No such File object: {file_id}", param="file_id")
    return record


def stored_file_list(*, owner: ApiKey | None, purpose: str | None = None, limit: int = 10000,
                     order: str = "desc", after: str | None = None) -> tuple[list[StoredFile], bool]:
    """One page of the owner's uploaded files (inline copies left out) and whether more follow."""
    files = _visible(owner).exclude(purpose=INLINE_PURPOSE)
    if purpose:
        files = files.filter(purpose=purpose)
    ordering = ["created_at", "id"] if order == "asc" else ["-created_at", "-id"]
    files = files.order_by(*ordering)
    if after:
        cursor = files.filter(pk=after).values_list("created_at", flat=True).first()
        if cursor is None:
            raise BadRequestError(f"No such File object: {after}", param="after")
        if order == "asc":
            files = files.filter(created_at__gte=cursor).exclude(created_at=cursor, id__lte=after)
        else:
            files = files.filter(created_at__lte=cursor).exclude(created_at=cursor, id__gte=after)
    page = list(files[:limit + 1])
    return page[:limit], len(page) > limit


def stored_file_open(*, stored_file: StoredFile) -> BinaryIO:
    """An open handle on the bytes, for streaming (the local copy, refilled from the database on a miss);
    NotFoundError if the database no longer has them either."""
    try:
        return storage.open_read(storage.UPLOADS, stored_file.storage_name)
    except (FileNotFoundError, ValueError):
        logger.error("stored file has no bytes", extra={"file_id": stored_file.id})
        raise NotFoundError(f"The content of file {stored_file.id} is no longer available.", param="file_id") from None


def stored_file_read(*, stored_file: StoredFile) -> bytes:
    """The whole content (files are capped at GEMPOOL_MAX_UPLOAD_BYTES, so this is bounded)."""
    with stored_file_open(stored_file=stored_file) as handle:
        return handle.read()


def stored_file_delete(*, stored_file: StoredFile) -> None:
    """Delete the row (and its upstream-copy rows); the bytes go once the transaction commits."""
    name = stored_file.storage_name
    with transaction.atomic():
        stored_file.delete()
        transaction.on_commit(lambda: storage.delete(storage.UPLOADS, name))
    logger.info("file deleted", extra={"file_id": stored_file.pk})


# ---- upstream copies ----------------------------------------------------------------------------


def upstream_file_id_for(*, client: GeminiClient, creds: Credentials, account: Account, session: str,
                         stored_file: StoredFile) -> str:
    """The upstream fileId of `stored_file` in this account's `session`, uploading it on first use.

    Upstream file ids are bound to one session, so the cache key is (file, account, session). The upload
    runs outside any transaction; when two requests race, the loser of the unique constraint returns the
    winner's id (its own upstream copy is simply unused). Raises the client's UpstreamError unchanged
    (InvalidRequest for an unsupported type, PolicyBlocked, RateLimited, ...) so the caller's failover
    decides what to do with the account; NotFoundError if the bytes vanished.
    """
    cached = _cached_upstream_id(stored_file, account, session)
    if cached is not None:
        return cached
    data = stored_file_read(stored_file=stored_file)
    uploaded = client.add_context_file(creds, session=session, file_name=stored_file.filename,
                                       mime_type=stored_file.mime_type, data=data)
    try:
        with transaction.atomic():
            UpstreamFile.objects.create(stored_file=stored_file, account=account, session=session,
                                        upstream_file_id=uploaded.file_id)
    except IntegrityError:
        winner = _cached_upstream_id(stored_file, account, session)
        if winner is None:
            raise  # not the race we expected (e.g. the file was deleted meanwhile)
        return winner
    logger.info("file uploaded upstream", extra={"file_id": stored_file.pk, "account": account.pk})
    return uploaded.file_id


def _cached_upstream_id(stored_file: StoredFile, account: Account, session: str) -> str | None:
    return (UpstreamFile.objects.filter(stored_file=stored_file, account=account, session=session)
            .values_list("upstream_file_id", flat=True).first())


# ---- data: URIs ---------------------------------------------------------------------------------


def data_uri_decode(uri: str, *, param: str | None = "image_url") -> tuple[bytes, str]:
    """`data:<mime>;base64,<data>` -> (bytes, mime). Strict base64; the size limit applies before decoding.

    A missing type is sniffed from the bytes. Raises BadRequestError (or PayloadTooLarge) naming `param`.
    """
    match = DATA_URI_RE.match(uri or "")
    if match is None:
        raise BadRequestError("Invalid data URI: expected data:<mime type>;base64,<data>.", param=param)
    params = [p.strip().lower() for p in match["params"].split(";") if p.strip()]
    if "base64" not in params:
        raise BadRequestError("Invalid data URI: only base64-encoded data URIs are supported.", param=param)
    declared = match["mime"].strip()
    mime = content_types.normalize(declared)
    if declared and not mime:
        raise BadRequestError(f"Invalid data URI: {declared[:60]!r} is not a valid MIME type.", param=param)
    data = _b64decode(match["data"], param=param)
    if not data:
        raise BadRequestError("Invalid data URI: the data is empty.", param=param)
    return data, mime or content_types.sniff(data[:storage.HEAD_SIZE]) or "application/octet-stream"


def _b64decode(text: str, *, param: str | None) -> bytes:
    text = _WHITESPACE.sub("", text)  # line-wrapped base64 (MIME style) is still base64
    limit = _limit()
    if len(text) // 4 * 3 > limit + 3:
        raise too_large_error(limit, param=param)
    if len(text) % 4:
        text += "=" * (-len(text) % 4)  # tolerate stripped padding, nothing else
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestError("Invalid data URI: the data is not valid base64.", param=param) from None
    if len(data) > limit:
        raise too_large_error(limit, param=param)
    return data
