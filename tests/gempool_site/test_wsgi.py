"""The WSGI entry point's process-wide setup (gempool_site.wsgi), in a process of its own each time."""
from __future__ import annotations

import os
import textwrap

import pytest

from tests.script_run import assert_script_prints_ok

QUERY_LOG_SCRIPT = textwrap.dedent("""
    import sys
    import gempool_site.wsgi
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, reset_queries

    assert request_started.disconnect(reset_queries) is (sys.argv[1] == "true")
    assert request_started.disconnect(close_old_connections) is False  # each request closed its own at its end
    assert request_finished.disconnect(close_old_connections) is True
    print("ok")
""")


@pytest.mark.parametrize("debug", ["false", "true"])
def test_requests_start_without_work_that_debug_or_persistent_connections_alone_would_need(debug, tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gempool_site.settings", "DJANGO_DEBUG": debug,
           "DJANGO_SECRET_KEY": "x" * 50, "GEMPOOL_DATA_DIR": str(tmp_path)}
    assert_script_prints_ok(QUERY_LOG_SCRIPT, debug, env=env)
