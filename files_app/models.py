"""Files clients upload (bytes kept by us: see files_app/storage.py), their upstream copies, and generated media."""
from __future__ import annotations

from django.db import models

INLINE_PURPOSE = "inline"  # StoredFiles made from data: URIs: not listed by /v1/files, pruned like media


class StoredFile(models.Model):
    """A file uploaded through /v1/files or inlined as a data: URI; bytes live in the database (BlobChunk),
    with a local copy under GEMPOOL_DATA_DIR as a read cache."""

    id = models.CharField(primary_key=True, max_length=40)  # "file-..." as OpenAI shapes it
    filename = models.CharField(max_length=255)
    purpose = models.CharField(max_length=40, default="assistants")
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    storage_name = models.CharField(max_length=100, help_text="Path below the uploads folder.")
    owner = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="files")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.id} ({self.filename})"


class UpstreamFile(models.Model):
    """The upstream fileId a StoredFile got in one account's session (ids are session-bound upstream)."""

    stored_file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="upstream_copies")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    session = models.CharField(max_length=300)
    upstream_file_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stored_file", "account", "session"],
                                               name="upstream_file_unique_per_session")]


class GeneratedMedia(models.Model):
    """An image or video the upstream generated, downloaded once and served at /image/<name>."""

    name = models.CharField(primary_key=True, max_length=80)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    upstream_file_id = models.CharField(max_length=100, blank=True, default="")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "generated media"

    def __str__(self) -> str:
        return self.name


class BlobChunk(models.Model):
    """One piece of a stored file's bytes. The database is the source of truth for file contents, so any
    gempool instance sharing it can serve any upload or generated image; local files are only a cache."""

    area = models.CharField(max_length=16)
    name = models.CharField(max_length=160)
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["area", "name", "index"], name="blob_chunk_unique")]
