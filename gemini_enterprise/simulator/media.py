"""Small but real media bytes for generated files."""
from __future__ import annotations

import struct
import zlib


def tiny_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (66, 133, 244)) -> bytes:
    """A valid solid-colour PNG."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def fake_mp4() -> bytes:
    """Bytes that start like an MP4 (ftyp box); not playable, good enough to carry video/mp4."""
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"
    mdat = struct.pack(">I", 8 + 64) + b"mdat" + bytes(64)
    return ftyp + mdat
