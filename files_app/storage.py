"""Stored bytes: client uploads in "uploads", generated media in "media".

The database holds every file's bytes (BlobChunk rows of 1 MiB), so several gempool instances sharing one
database serve the same files; GEMPOOL_DATA_DIR keeps a local copy of each file as a read cache, refilled
from the database on a miss. Files are written in chunks to a temp file inside the same area (so the final
rename is atomic and never crosses file systems), hashed while they stream, fsynced, renamed into place,
then copied into the database. Nothing here knows about HTTP.
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

UPLOADS = "uploads"
MEDIA = "media"
AREAS = frozenset({UPLOADS, MEDIA})
TEMP_DIR = ".tmp"
CHUNK_SIZE = 64 * 1024
DB_CHUNK_SIZE = 1024 * 1024  # bytes per BlobChunk row: large enough to be few, small enough to stream
HEAD_SIZE = 512  # bytes kept aside for content sniffing
FILE_MODE = 0o640


class TooLarge(Exception):
    """More bytes arrived than the writer's limit allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


def area_root(area: str) -> Path:
    """The folder of an area, created on first use (resolved now: tests move DATA_DIR between cases)."""
    if area not in AREAS:
        raise ValueError(f"unknown storage area {area!r}")
    root = Path(settings.DATA_DIR) / area
    root.mkdir(parents=True, exist_ok=True)
    return root


def path_for(area: str, name: str) -> Path:
    """Absolute path of a stored name; refuses anything that would escape the area."""
    root = area_root(area).resolve()
    if not name or "\x00" in name or Path(name).is_absolute():
        raise ValueError("invalid stored name")
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ValueError("invalid stored name")
    return path


def sharded(name: str) -> str:
    """`ab/<name>` from the name's first two characters, so no folder grows past a few thousand entries."""
    return f"{name[:2].lower()}/{name}"


class StagedWrite:
    """A file being written: `write()` chunks, then `commit(name)` or `abort()`. Safe to abort twice."""

    def __init__(self, area: str, *, max_bytes: int | None = None) -> None:
        self.area = area
        self.max_bytes = max_bytes
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()
        temp_dir = area_root(area) / TEMP_DIR
        temp_dir.mkdir(exist_ok=True)
        self.temp_path = temp_dir / f"{secrets.token_hex(12)}.part"
        fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        self._handle: BinaryIO | None = os.fdopen(fd, "wb")
        self.committed_name: str | None = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, chunk: bytes) -> None:
        """Append a chunk; raises TooLarge (and stops writing) once the limit would be passed."""
        if self._handle is None:
            raise ValueError("write to a finished StagedWrite")
        if self.max_bytes is not None and self.size + len(chunk) > self.max_bytes:
            raise TooLarge(self.max_bytes)
        if len(self.head) < HEAD_SIZE:
            self.head += chunk[:HEAD_SIZE - len(self.head)]
        self._hash.update(chunk)
        self._handle.write(chunk)
        self.size += len(chunk)

    def flush(self) -> None:
        """Make what was written visible to readers of temp_path."""
        if self._handle is not None:
            self._handle.flush()

    def write_all(self, chunks: Iterable[bytes]) -> StagedWrite:
        """Write every chunk (aborting the file on any error) and return self."""
        try:
            for chunk in chunks:
                self.write(chunk)
        except BaseException:
            self.abort()
            raise
        return self

    def commit(self, name: str) -> Path:
        """Flush to disk and rename into `name` (relative to the area); returns the final path."""
        if self._handle is None:
            raise ValueError("commit of a finished StagedWrite")
        target = path_for(self.area, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, self._handle = self._handle, None
        try:
            handle.flush()
            os.fsync(handle.fileno())  # the DB row will say the file exists: make that true after a crash
        finally:
            handle.close()
        os.replace(self.temp_path, target)
        self.committed_name = name
        _copy_to_database(self.area, name, target)
        return target

    def abort(self) -> None:
        """Close and remove the temp file (no-op after commit)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()
        if self.committed_name is None:
            self.temp_path.unlink(missing_ok=True)


def write_bytes(area: str, name: str, data: bytes) -> Path:
    """Store `data` under `name` with the same temp-and-rename guarantee."""
    staged = StagedWrite(area)
    staged.write_all(data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE))
    return staged.commit(name)


def iter_chunks(source: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterable[bytes]:
    """Chunks of a file-like object, or of a Django File through its own chunks()."""
    chunks = getattr(source, "chunks", None)
    if callable(chunks):
        yield from chunks(chunk_size)
        return
    while True:
        chunk = source.read(chunk_size)
        if not chunk:
            return
        yield chunk


def open_read(area: str, name: str) -> BinaryIO:
    """An open binary handle; a local miss is refilled from the database (FileNotFoundError if neither has it)."""
    path = path_for(area, name)
    try:
        return path.open("rb")
    except FileNotFoundError:
        _restore_from_database(area, name, path)
        return path.open("rb")


def delete(area: str, name: str) -> None:
    """Remove a stored file here and in the database; a missing one is fine (deletes may be retried)."""
    from files_app.models import BlobChunk

    BlobChunk.objects.filter(area=area, name=name).delete()
    try:
        path_for(area, name).unlink(missing_ok=True)
    except (OSError, ValueError):
        logger.warning("could not delete stored file", extra={"area": area, "file": name}, exc_info=True)


def _copy_to_database(area: str, name: str, path: Path) -> None:
    from files_app.models import BlobChunk

    with transaction.atomic(), path.open("rb") as handle:
        BlobChunk.objects.filter(area=area, name=name).delete()
        index = 0
        while chunk := handle.read(DB_CHUNK_SIZE):
            BlobChunk.objects.create(area=area, name=name, index=index, data=chunk)
            index += 1


def _restore_from_database(area: str, name: str, path: Path) -> None:
    from files_app.models import BlobChunk

    rows = BlobChunk.objects.filter(area=area, name=name).order_by("index").values_list("data", flat=True)
    temp_dir = area_root(area) / TEMP_DIR
    temp_dir.mkdir(exist_ok=True)
    temp = temp_dir / f"{secrets.token_hex(12)}.part"
    found = False
    try:
        with temp.open("wb") as handle:
            for data in rows.iterator(chunk_size=1):
                handle.write(bytes(data))
                found = True
        if not found:
            raise FileNotFoundError(f"{area}/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, path)  # atomic: a concurrent reader sees the whole file or none
        logger.info("stored file restored from the database", extra={"area": area, "file": name})
    finally:
        temp.unlink(missing_ok=True)


def prune_temp(area: str, *, older_than_seconds: float = 3600.0) -> int:
    """Remove temp files a crashed writer left behind; the temp folder stays small, so this is cheap."""
    cutoff = time.time() - older_than_seconds
    temp_dir = area_root(area) / TEMP_DIR
    if not temp_dir.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(temp_dir):
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # another process pruned it first
    return removed
