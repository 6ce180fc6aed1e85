"""Resolve a conversation's attachments to files gempool keeps, so any account can be given them."""
from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from accounts.models import ApiKey
from files_app import services as files
from files_app.models import StoredFile
from gempool_site.exceptions import BadRequestError
from openai_api.conversation import Attachment, Message


@dataclass(frozen=True)
class ResolvedAttachments:
    """Unique stored files in first-mention order, and per message the names to mark in the transcript."""

    stored_files: list[StoredFile]
    names_per_message: list[list[str]]


def _filename_for(attachment: Attachment, mime_type: str, index: int) -> str:
    if attachment.filename:
        return attachment.filename
    extension = mimetypes.guess_extension(mime_type) or ".bin"
    return f"attachment-{index}{extension}"


def _resolve_one(attachment: Attachment, *, owner: ApiKey | None, index: int) -> StoredFile:
    if attachment.kind == "file_id":
        return files.stored_file_get(file_id=attachment.value, owner=owner)
    if attachment.kind == "data_uri":
        data, mime_type = files.data_uri_decode(attachment.value, param=attachment.param)
    else:
        data, mime_type = files.fetch_image_url(attachment.value, param=attachment.param)
    return files.stored_file_from_bytes(data=data, filename=_filename_for(attachment, mime_type, index),
                                        mime_type=mime_type, owner=owner)


def resolve_attachments(messages: list[Message], *, owner: ApiKey | None) -> ResolvedAttachments:
    """Store inline data and fetched URLs, look up file ids; raises BadRequestError/NotFoundError naming the part."""
    unique: dict[str, StoredFile] = {}
    names: list[list[str]] = []
    index = 0
    for message in messages:
        message_names = []
        for attachment in message.attachments:
            if message.role not in ("user", "system", "developer", "tool", "function"):
                raise BadRequestError("Only user messages may carry images or files.", param=attachment.param)
            index += 1
            stored = _resolve_one(attachment, owner=owner, index=index)
            unique.setdefault(stored.sha256 + stored.mime_type, stored)
            message_names.append(stored.filename)
        names.append(message_names)
    return ResolvedAttachments(stored_files=list(unique.values()), names_per_message=names)
