"""Typed readers for environment settings: each refuses a bad value at start-up with a message naming it."""
from __future__ import annotations

import os
import secrets
import zoneinfo
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")  # Python's and gunicorn's alike
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str = "") -> str:
    """A string setting; unset means `default`."""
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    """A boolean setting: 1/0, true/false, yes/no, on/off."""
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false, 1/0, yes/no), got {value!r}")


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (compared in lower case)."""
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer setting within optional bounds."""
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None
    _check_bounds(name, number, minimum, maximum)
    return number


def env_timezone(name: str, default: str) -> str:
    """An IANA time zone name (e.g. America/Los_Angeles) that zoneinfo knows."""
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"{name} must be an IANA time zone name such as UTC or Europe/Berlin, "
                                   f"got {value!r}") from None
    return value


def env_float(name: str, default: float, *, minimum: float | None = None,
              maximum: float | None = None) -> float:
    """A decimal setting within optional bounds."""
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    _check_bounds(name, number, minimum, maximum)
    return number


def _check_bounds(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blanks dropped."""
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
            "d": 86400, "day": 86400}


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate like "10/min" or "100/day": (count, window seconds)."""
    value = env_str(name, default)
    count, _, period = value.partition("/")
    seconds = _PERIODS.get(period.strip().lower())
    if not count.strip().isdigit() or int(count) < 1 or seconds is None:
        raise ImproperlyConfigured(f"{name} must look like 10/min (count per s, min, hour or day), got {value!r}")
    return int(count), seconds


def env_url(name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """An absolute URL with one of `schemes`; a trailing slash is dropped."""
    value = env_str(name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ImproperlyConfigured(f"{name} must be an absolute {'/'.join(schemes)} URL, got {value!r}")
    return value.rstrip("/")


def env_bind(name: str, default: str) -> str:
    """A host:port pair for a listening socket."""
    value = env_str(name, default)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"{name} must look like HOST:PORT, got {value!r}")
    return value


def env_extra_bind(name: str, *, main_bind: str) -> str:
    """An optional second HOST:PORT ("" when unset), which must not use the main listener's port."""
    if not env_str(name):
        return ""
    value = env_bind(name, "")
    if value.rpartition(":")[2] == main_bind.rpartition(":")[2]:
        raise ImproperlyConfigured(f"{name} needs a port of its own, not the one of GEMPOOL_BIND ({main_bind}).")
    return value


def env_renamed(old: str, new: str) -> None:
    """Refuse a variable that was renamed, rather than silently ignoring what the operator set."""
    if _raw(old) is not None:
        raise ImproperlyConfigured(f"{old} was renamed {new}; set that instead")


def database_from_url(name: str, url: str) -> dict:
    """Turn a postgres:// (or sqlite:///path) URL into a Django DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        if not parts.path.strip("/"):
            raise ImproperlyConfigured(f"{name} must name a database, e.g. postgres://user@host:5432/gempool")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # A small psycopg pool: chat threads return their connection before waiting on the
            # upstream, so hundreds of streams share a handful of server connections.
            "CONN_MAX_AGE": 0,
            "OPTIONS": {"pool": {"min_size": 1, "max_size": env_int("GEMPOOL_DB_POOL_SIZE", 20, minimum=1),
                                 "timeout": 30}},
        }
    if parts.scheme == "sqlite":
        return sqlite_database(Path(unquote(parts.path)))
    raise ImproperlyConfigured(f"{name} must start with postgres:// or sqlite:///, got scheme {parts.scheme!r}")


def sqlite_database(path: Path) -> dict:
    """SQLite tuned for a small multi-threaded server: WAL, a busy timeout, immediate write transactions."""
    return {
        "ENGINE": "gempool_site.db_backends.sqlite3",  # Django's, with open connections reused
        "NAME": str(path),
        "OPTIONS": {
            "timeout": 30,
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue on the busy timeout
            # instead of one failing with "database is locked" when it upgrades a read lock.
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        },
    }


def persistent_secret_key(data_dir: Path) -> str:
    """The secret key stored in the data dir, created once with mode 0600 (race-safe across processes)."""
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Write aside, then link into place: link() fails if another process won the race,
        # so nobody ever reads a half-written key.
        tmp = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise ImproperlyConfigured(f"{path} holds a secret key shorter than 32 characters; delete it to regenerate")
    return key
