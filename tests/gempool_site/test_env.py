"""Settings come from the environment and refuse bad values with a message that names them."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from gempool_site import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value,expected", [("1", True), ("TRUE", True), ("off", False), ("no", False)])
def test_booleans_are_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("GP_FLAG", value)
    assert env.env_bool("GP_FLAG") is expected


@pytest.mark.parametrize("reader,value,needle", [
    (lambda: env.env_bool("GP_X"), "maybe", "GP_X must be a boolean"),
    (lambda: env.env_int("GP_X", 1), "ten", "GP_X must be a whole number"),
    (lambda: env.env_int("GP_X", 1, minimum=1), "0", "GP_X must be at least 1"),
    (lambda: env.env_float("GP_X", 1.0, maximum=5), "9.5", "GP_X must be at most 5"),
    (lambda: env.env_url("GP_X", "https://a"), "ftp://host", "GP_X must be an absolute http/https URL"),
    (lambda: env.env_url("GP_X", "https://a"), "not a url", "GP_X must be an absolute"),
    (lambda: env.env_bind("GP_X", "127.0.0.1:8000"), "127.0.0.1", "GP_X must look like HOST:PORT"),
    (lambda: env.env_bind("GP_X", "127.0.0.1:8000"), "h:70000", "GP_X must look like HOST:PORT"),
    (lambda: env.env_rate("GP_X", "1/min"), "ten/min", "GP_X must look like 10/min"),
    (lambda: env.env_rate("GP_X", "1/min"), "10/fortnight", "GP_X must look like 10/min"),
])
def test_bad_values_are_refused_naming_the_variable(monkeypatch, reader, value, needle):
    monkeypatch.setenv("GP_X", value)
    with pytest.raises(ImproperlyConfigured, match=needle):
        reader()


@pytest.mark.parametrize("value,expected", [("10/min", (10, 60)), ("50/day", (50, 86400)), ("3/s", (3, 1))])
def test_rates_are_read_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("GP_RATE", value)
    assert env.env_rate("GP_RATE", "1/min") == expected


def test_postgres_urls_are_parsed_into_database_settings():
    entry = env.database_from_url("DATABASE_URL", "postgres://gp:s%40cret@db.local:6543/gempool")
    assert entry["ENGINE"] == "django.db.backends.postgresql"
    assert (entry["NAME"], entry["USER"], entry["PASSWORD"], entry["HOST"], entry["PORT"]) == (
        "gempool", "gp", "s@cret", "db.local", "6543")


def test_unknown_database_schemes_are_refused():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with postgres://"):
        env.database_from_url("DATABASE_URL", "mysql://x/y")


def test_sqlite_uses_wal_and_a_busy_timeout():
    entry = env.sqlite_database(Path("/tmp/x.sqlite3"))
    assert "journal_mode=WAL" in entry["OPTIONS"]["init_command"]
    assert entry["OPTIONS"]["timeout"] >= 5


def test_the_secret_key_is_generated_once_with_mode_0600(tmp_path):
    first = env.persistent_secret_key(tmp_path)
    second = env.persistent_secret_key(tmp_path)
    assert first == second and len(first) >= 50
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def _django_check(tmp_path, **environ):
    environment = {**os.environ, "GEMPOOL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "gempool_site.settings"}
    environment.pop("DJANGO_SECRET_KEY", None)
    environment.update(environ)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_start_up_stops_with_a_clear_message_on_a_bad_value(tmp_path):
    result = _django_check(tmp_path, GEMPOOL_MAX_ATTEMPTS="lots")
    assert result.returncode != 0
    assert "GEMPOOL_MAX_ATTEMPTS must be a whole number" in result.stderr


def test_defaults_are_safe(tmp_path):
    script = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='gempool_site.settings'; django.setup();"
              "from django.conf import settings as s;"
              "print(s.DEBUG, s.GEMPOOL_VERIFY_TLS, s.DATABASES['default']['ENGINE'], s.GEMPOOL_AUTH_URL)")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GEMPOOL_", "DATABASE"))}
    environment["GEMPOOL_DATA_DIR"] = str(tmp_path)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.split() == ["False", "True", "gempool_site.db_backends.sqlite3",
                                     "https://business.gemini.google"], result.stderr
    assert (tmp_path / "secret_key").exists()
