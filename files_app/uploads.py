"""A multipart upload handler that streams file parts straight into our storage, capped at the size limit.

Django's default handlers would keep up to 2 MB in memory or copy the body to /tmp, and only then could we
copy it again into the data dir; this one writes each chunk once, into a temp file next to its final place,
hashing as it goes. Past the limit it stops writing but keeps consuming the body, so the client (which is
still sending) reads a clean 413 instead of a connection reset.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from files_app import storage
from gempool_site.exceptions import PayloadTooLarge

logger = logging.getLogger(__name__)


def too_large_error(limit: int, *, param: str | None = "file") -> PayloadTooLarge:
    """The 413 every oversize path raises, with the limit in words."""
    return PayloadTooLarge(f"File is too large: the limit is {limit // (1024 * 1024)} MB ({limit} bytes).",
                           param=param)


class StagedUpload(UploadedFile):
    """An uploaded file whose bytes already sit in a storage temp file (see StagedWrite)."""

    def __init__(self, staged: storage.StagedWrite, *, name: str, content_type: str | None,
                 charset: str | None, too_large: bool) -> None:
        self.staged = staged
        self.too_large = too_large
        handle = None if too_large else staged.temp_path.open("rb")
        super().__init__(handle, name, content_type, staged.size, charset)

    def close(self) -> None:
        """Called by Django at the end of the request: drop the temp file unless a service committed it."""
        if self.file is not None:
            self.file.close()
        self.staged.abort()


class StagingUploadHandler(FileUploadHandler):
    """Upload handler for /v1/files (install it on the request before the body is parsed)."""

    chunk_size = storage.CHUNK_SIZE

    def __init__(self, request=None, *, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes or settings.GEMPOOL_MAX_UPLOAD_BYTES
        self.staged: storage.StagedWrite | None = None
        self.too_large = False

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.staged = storage.StagedWrite(storage.UPLOADS, max_bytes=self.max_bytes)
        self.too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self.staged is None or self.too_large:
            return None  # past the limit: swallow the rest of the part without storing it
        try:
            self.staged.write(raw_data)
        except storage.TooLarge:
            self.too_large = True
            self.staged.abort()
        return None

    def file_complete(self, file_size: int) -> StagedUpload | None:
        if self.staged is None:
            return None
        self.staged.flush()
        upload = StagedUpload(self.staged, name=self.file_name, content_type=self.content_type,
                              charset=self.charset, too_large=self.too_large)
        self.staged = None
        return upload

    def upload_interrupted(self) -> None:
        if self.staged is not None:
            self.staged.abort()
            self.staged = None

    def upload_complete(self) -> None:
        # The whole body has been read by now (the parser exhausts it first), so raising here still lets
        # the client read the answer.
        if self.too_large:
            logger.info("upload refused: over the size limit", extra={"limit": self.max_bytes})
            raise too_large_error(self.max_bytes)
