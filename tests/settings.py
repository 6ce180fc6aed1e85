"""Test settings: the production settings, with an isolated data dir and file-backed test databases."""
from __future__ import annotations

import os
import tempfile

_base = os.environ.setdefault("GEMPOOL_DATA_DIR", tempfile.mkdtemp(prefix="gempool-test-"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # xdist workers inherit the controller's environment, so without this they would share one data dir:
    # one cache file (a test clearing the cache would wipe another worker's rate-limit counts), one media
    # folder, one secret key file.
    os.environ["GEMPOOL_DATA_DIR"] = os.path.join(_base, os.environ["PYTEST_XDIST_WORKER"])
    os.makedirs(os.environ["GEMPOOL_DATA_DIR"], exist_ok=True)
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-that-is-long-enough-for-fernet-0123456789")
os.environ.setdefault("GEMPOOL_LOG_LEVEL", "WARNING")
# No automatic housekeeping at the end of requests (it would add queries to counted ones); its own tests
# turn it on.
os.environ.setdefault("GEMPOOL_HOUSEKEEPING_INTERVAL", "0")
# Each request's log row and usage written as it ends, so a test reads them back right after its request;
# tests/metering/test_record_writer.py runs the batches the default collects.
os.environ.setdefault("GEMPOOL_RECORD_BATCH_SECONDS", "0")

from gempool_site.settings import *  # noqa: E402,F403
from gempool_site.settings import DATA_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so a gunicorn process started by an end-to-end test sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user fixtures
ALLOWED_HOSTS = ["*"]
