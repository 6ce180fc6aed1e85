"""Content types: what a declared, named or sniffed file is, and the extension media is served under."""
from __future__ import annotations

import mimetypes
import re

GENERIC = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})
MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")

# (prefix, offset, mime): magic numbers of the formats clients and the upstream actually send.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
)

# The only media types /image/<name> serves, and the extension each gets.
MEDIA_EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
}
EXTENSION_TYPES: dict[str, str] = {**{ext: mime for mime, ext in MEDIA_EXTENSIONS.items()}, "jpeg": "image/jpeg"}


def normalize(mime: str | None) -> str:
    """`Image/PNG; charset=x` -> `image/png`; anything malformed -> ''."""
    value = (mime or "").split(";", 1)[0].strip().lower()
    return value if MIME_RE.match(value) else ""


def sniff(head: bytes) -> str | None:
    """The type told by the first bytes, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for magic, offset, mime in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return mime
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut by the end of the sample
    return True


def guess(*, declared: str | None, filename: str, head: bytes) -> str:
    """The declared type unless it is missing or generic; then the name's, then the content's."""
    mime = normalize(declared)
    if mime not in GENERIC:
        return mime
    by_name = normalize(mimetypes.guess_type(filename, strict=False)[0])
    if by_name:
        return by_name
    by_content = sniff(head)
    if by_content:
        return by_content
    return "text/plain" if _looks_like_text(head) else "application/octet-stream"
