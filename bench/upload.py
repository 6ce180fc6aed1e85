"""(e) a 20 MB upload through /v1/files, then a chat that uses it: the gateway's peak memory over idle."""
from __future__ import annotations

import os
import time

import requests

from bench.procs import MemorySampler

UPLOAD_BYTES = 20 * 1024 * 1024  # GEMPOOL_MAX_UPLOAD_MB's default: the largest file a client may send


def _payload(size: int) -> bytes:
    # Text (hex) so the simulator accepts it as text/plain; random so nothing can compress or dedupe it.
    return os.urandom(size // 2).hex().encode()[:size].ljust(size, b"0")


def upload_then_chat(base_url: str, api_key: str, sampler: MemorySampler, size: int = UPLOAD_BYTES) -> dict:
    headers = {"Authorization": f"Bearer {api_key}"}
    data = _payload(size)
    previous, sampler.interval = sampler.interval, 0.02  # short spikes (base64 of the file) must not slip by
    try:
        idle_rss, _ = sampler.settle(2.0)
        t0 = time.monotonic()
        with requests.Session() as http:
            http.trust_env = False
            resp = http.post(base_url + "/v1/files", headers=headers, timeout=120,
                             files={"file": ("bench-20mb.txt", data, "text/plain")}, data={"purpose": "assistants"})
            t1 = time.monotonic()
            if resp.status_code != 200:
                return {"error": f"upload: HTTP {resp.status_code} {resp.text[:300]}"}
            file_id = resp.json()["id"]
            body = {"model": "gemini-enterprise", "stream": False, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Summarise the attached file."}, {"type": "file", "file_id": file_id}]}]}
            chat = http.post(base_url + "/v1/chat/completions", headers=headers, json=body, timeout=180)
            t2 = time.monotonic()
        time.sleep(0.5)  # the run thread records and closes after the answer went out
        t3 = time.monotonic()
        upload_peak, _ = sampler.peak(t0, t1)
        chat_peak, _ = sampler.peak(t1, t3)
        after_rss, _ = sampler.settle(2.0)
    finally:
        sampler.interval = previous
    content = chat.json()["choices"][0]["message"]["content"] if chat.status_code == 200 else ""
    result = {"bytes": size, "idle_rss": idle_rss, "upload_peak_rss": upload_peak, "chat_peak_rss": chat_peak,
              "added_rss": max(upload_peak, chat_peak) - idle_rss, "after_rss": after_rss,
              "upload_s": t1 - t0, "chat_s": t2 - t1, "chat_status": chat.status_code}
    if chat.status_code != 200 or f"{size} bytes" not in content:
        result["error"] = f"chat: HTTP {chat.status_code} {chat.text[:300]}"
    return result
