"""Reading a ResponseBody to its end in tests, counting the silences it reported on the way."""
from __future__ import annotations

from gemini_enterprise.body import BodyIdle, ResponseBody


def read_counting_idles(body: ResponseBody) -> tuple[bytes, int]:
    """(every byte of the body, how many times a read raised BodyIdle)."""
    received, idles = b"", 0
    while True:
        try:
            chunk = body.read()
        except BodyIdle:
            idles += 1
            continue
        if not chunk:
            return received, idles
        received += chunk
