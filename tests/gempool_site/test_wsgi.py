"""The WSGI entry point's process-wide setup (gempool_site.wsgi), in a process of its own each time."""
from __future__ import annotations

import os
import textwrap

import pytest

from tests.script_run import assert_script_prints_ok

QUERY_LOG_SCRIPT = textwrap.dedent("""
    import sys
    import gempool_site.wsgi
    from django.core.signals import request_started
    from django.db import reset_queries

    still_connected = request_started.disconnect(reset_queries)
    assert still_connected is (sys.argv[1] == "true"), still_connected
    print("ok")
""")


@pytest.mark.parametrize("debug", ["false", "true"])
def test_requests_empty_the_query_log_only_while_debug_fills_it(debug, tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gempool_site.settings", "DJANGO_DEBUG": debug,
           "DJANGO_SECRET_KEY": "x" * 50, "GEMPOOL_DATA_DIR": str(tmp_path)}
    assert_script_prints_ok(QUERY_LOG_SCRIPT, debug, env=env)
