"""createapikey and firstrun: keys are shown once and only their hash is stored."""
from __future__ import annotations

import hashlib
import io
import os
import re
import shlex
import subprocess

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import ApiKey
from accounts.services import api_key_verify

pytestmark = pytest.mark.django_db


def _all_text_in_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, prefix, key_hash FROM accounts_apikey")
        return repr(cursor.fetchall())


def test_createapikey_prints_the_key_last_and_stores_only_its_hash():
    out = io.StringIO()
    call_command("createapikey", "ci bot", stdout=out, stderr=io.StringIO())
    raw = out.getvalue().strip().splitlines()[-1]
    assert raw.startswith("gp-") and len(raw) > 40
    stored = ApiKey.objects.get()
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in _all_text_in_database()
    assert raw.startswith(stored.prefix)
    assert api_key_verify(raw=raw) == stored
    assert api_key_verify(raw=raw + "x") is None


def test_createapikey_refuses_an_empty_name():
    with pytest.raises(CommandError, match="NAME must be"):
        call_command("createapikey", "  ", stdout=io.StringIO())


def test_firstrun_creates_an_admin_and_a_key_once(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    out = io.StringIO()
    call_command("firstrun", stdout=out)
    assert str(tmp_path / "first-start-credentials.txt") in out.getvalue()
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    again = io.StringIO()
    call_command("firstrun", stdout=again)
    assert again.getvalue() == ""
    assert ApiKey.objects.count() == 1


def test_firstrun_gives_a_change_password_command_that_runs_as_shown(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    call_command("firstrun", stdout=io.StringIO())
    written = (tmp_path / "first-start-credentials.txt").read_text()
    command = re.search(r"Change the password with: (.+)", written).group(1)
    argv = shlex.split(command)
    assert argv[-2:] == ["changepassword", "admin"] and argv[0] != "python"
    # The same interpreter and manage.py, asked for the subcommand's help (the real one would prompt).
    env = {**os.environ, "GEMPOOL_DATA_DIR": str(tmp_path)}
    result = subprocess.run([*argv[:-1], "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "changepassword" in result.stdout


def test_a_revoked_key_no_longer_verifies(api_key):
    from accounts.services import api_key_revoke

    record, raw = api_key
    api_key_revoke(api_key=record)
    assert api_key_verify(raw=raw) is None
