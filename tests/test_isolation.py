"""The suite's own isolation: parallel workers share no files through the data dir."""
from __future__ import annotations

import os

import pytest
from django.conf import settings


@pytest.mark.skipif(not os.environ.get("PYTEST_XDIST_WORKER"), reason="runs under pytest-xdist only")
def test_each_xdist_worker_keeps_its_own_data_dir_and_cache_file():
    worker = os.environ["PYTEST_XDIST_WORKER"]
    assert settings.DATA_DIR.name == worker
    location = settings.CACHES["default"].get("LOCATION", "")
    assert not location.startswith("/") or location.startswith(str(settings.DATA_DIR))
