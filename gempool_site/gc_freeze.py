"""A worker takes what it loaded at start-up out of the garbage collector's scans.

A gunicorn worker imports Django, DRF and the project and builds its URLconf: about a hundred thousand objects
that live as long as the process. Python's collector walks every one of them in each full collection, and a
burst of requests triggers full collections (1000 streams opened at once: one or two per worker, 60-180 ms
each). `gc.freeze()` moves every object alive at that moment into a permanent generation that no collection
scans, the pre-fork server case of Python's gc documentation. The CPU to set a stream up in such a burst
fell by 7-8 % (bench/README.md, "The setup's CPU in a burst, and the garbage collector").

What is frozen is never collected, so this runs once, after start-up, when what is alive is what stays.
"""
from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Load what the first request would (the URLconf and so every view module), collect, then freeze
    everything alive."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property imports the view modules
    gc.collect()
    gc.freeze()
