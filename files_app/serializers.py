"""OpenAI's shapes for /v1/files: the upload form, the list query and the file object."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from files_app.models import StoredFile

# The purposes OpenAI's API accepts today; anything else is refused like OpenAI does.
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


class FileUploadSerializer(serializers.Serializer):
    """POST /v1/files multipart fields."""

    file = serializers.FileField(allow_empty_file=True)  # emptiness is the service's call, with its message
    purpose = serializers.ChoiceField(choices=PURPOSES)


class FileListQuerySerializer(serializers.Serializer):
    """GET /v1/files query parameters."""

    purpose = serializers.CharField(required=False, allow_blank=True, max_length=40)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=10000, default=10000)
    order = serializers.ChoiceField(choices=("asc", "desc"), required=False, default="desc")
    after = serializers.CharField(required=False, allow_blank=True, max_length=40)


def file_object(stored_file: StoredFile) -> dict[str, Any]:
    """A StoredFile as OpenAI's file object."""
    return {
        "id": stored_file.id,
        "object": "file",
        "bytes": stored_file.size,
        "created_at": int(stored_file.created_at.timestamp()),
        "filename": stored_file.filename,
        "purpose": stored_file.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


def file_list(files: list[StoredFile], *, has_more: bool) -> dict[str, Any]:
    """OpenAI's list envelope of file objects."""
    return {
        "object": "list",
        "data": [file_object(f) for f in files],
        "first_id": files[0].id if files else None,
        "last_id": files[-1].id if files else None,
        "has_more": has_more,
    }
