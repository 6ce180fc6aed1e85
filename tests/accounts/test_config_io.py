"""importconfig / exportconfig: the original tool's format, validated whole, written atomically."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core import serializers
from django.core.management import CommandError, call_command

from accounts.models import Account, AccountStatus, PoolSettings
from models_catalog.models import ModelConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_proxies_allowed(settings):
    """The original tool's sample points at a proxy on the same host (127.0.0.1:7890), as its users' files do;
    the default refusal of private proxies is pinned in tests/security/test_proxies.py."""
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True


def _snapshot() -> str:
    objects = [*Account.objects.order_by("pk"), *ModelConfig.objects.order_by("pk"), *PoolSettings.objects.all()]
    return serializers.serialize("json", objects)



def _import_file(tmp_path: Path, content: str | bytes, *args: str) -> str:
    path = tmp_path / "config.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    out = io.StringIO()
    call_command("importconfig", str(path), *args, stdout=out)
    return out.getvalue()


def test_the_original_readme_sample_imports(tmp_path):
    output = _import_file(tmp_path, (FIXTURES / "original_readme_sample.json").read_text())
    assert "1 new" in output
    account = Account.objects.get()
    assert (account.team_id, account.csesidx, account.secure_c_ses) == ("Team ID", "Session Index",
                                                                        "Secure Session Cookie")
    assert account.enabled and account.status == AccountStatus.ACTIVE
    assert ModelConfig.objects.get(id="Model ID").context_length == 32768
    assert PoolSettings.load().proxy_url == "http://127.0.0.1:7890"


def test_the_quick_start_template_is_refused_until_its_proxy_placeholder_is_filled(tmp_path):
    template = (FIXTURES / "original_readme_quickstart.json").read_text()
    with pytest.raises(CommandError, match="proxy: The proxy port is not a valid number"):
        _import_file(tmp_path, template)
    _import_file(tmp_path, template.replace("your-proxy:port", "proxy.internal:3128"))
    pool = PoolSettings.load()
    assert pool.proxy_enabled and pool.proxy_url == "http://proxy.internal:3128"


def test_extra_keys_are_tolerated(tmp_path):
    document = json.loads((FIXTURES / "original_readme_sample.json").read_text())
    document["image_base_url"] = "https://gw.example.com"
    document["something_new"] = {"x": 1}
    document["accounts"][0]["note"] = "ignored"
    _import_file(tmp_path, json.dumps(document))
    assert PoolSettings.load().image_base_url == "https://gw.example.com"


def test_export_import_export_is_byte_identical(tmp_path):
    _import_file(tmp_path, (FIXTURES / "original_readme_sample.json").read_text())
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    call_command("exportconfig", str(first), stderr=io.StringIO())
    call_command("importconfig", str(first), stdout=io.StringIO())
    call_command("exportconfig", str(second), stderr=io.StringIO())
    assert first.read_bytes() == second.read_bytes()
    assert (first.stat().st_mode & 0o777) == 0o600


def test_export_into_a_fresh_database_round_trips(tmp_path):
    _import_file(tmp_path, (FIXTURES / "original_readme_sample.json").read_text())
    ModelConfig.objects.create(id="zz-custom", sort_order=0)  # collides on sort_order on purpose
    first = io.StringIO()
    call_command("exportconfig", stdout=first)
    Account.objects.all().delete()
    ModelConfig.objects.all().delete()
    _import_file(tmp_path, first.getvalue())
    second = io.StringIO()
    call_command("exportconfig", stdout=second)
    assert first.getvalue() == second.getvalue()


def test_a_reimported_account_is_merged_not_duplicated(tmp_path):
    document = json.loads((FIXTURES / "original_readme_sample.json").read_text())
    _import_file(tmp_path, json.dumps(document))
    document["accounts"][0]["secure_c_ses"] = "rotated-cookie"
    output = _import_file(tmp_path, json.dumps(document))
    assert "0 new and 1 updated accounts" in output
    assert Account.objects.get().secure_c_ses == "rotated-cookie"


def test_new_cookies_bring_a_needs_login_account_back(tmp_path):
    document = json.loads((FIXTURES / "original_readme_sample.json").read_text())
    _import_file(tmp_path, json.dumps(document))
    Account.objects.update(status=AccountStatus.NEEDS_LOGIN)
    document["accounts"][0]["secure_c_ses"] = "fresh-cookie"
    _import_file(tmp_path, json.dumps(document))
    assert Account.objects.get().status == AccountStatus.ACTIVE


def test_reenabling_by_import_looks_at_the_last_error_and_the_rotation_place(tmp_path, make_account):
    from datetime import timedelta

    from django.utils import timezone

    used = timezone.now() - timedelta(hours=1)
    dead = make_account(enabled=False, status=AccountStatus.DISABLED, last_error_kind="login_required",
                        last_error_at=timezone.now(), last_used_at=used, ready_at=timezone.now() + timedelta(hours=1))
    rested = make_account(enabled=False, status=AccountStatus.DISABLED, last_error_kind="rate_limited",
                          last_used_at=used, ready_at=timezone.now() + timedelta(hours=1), request_count=7)
    document = json.loads(_export_text())
    for row in document["accounts"]:
        row["available"] = True
    _import_file(tmp_path, json.dumps(document))
    dead.refresh_from_db()
    rested.refresh_from_db()
    assert (dead.status, dead.enabled, dead.ready_at) == (AccountStatus.NEEDS_LOGIN, True, used)
    assert (rested.status, rested.ready_at, rested.request_count) == (AccountStatus.ACTIVE, used, 7)


def _export_text() -> str:
    from accounts.config_io import config_export_text

    return config_export_text()


def test_dry_run_changes_nothing(tmp_path):
    before = _snapshot()
    output = _import_file(tmp_path, (FIXTURES / "original_readme_sample.json").read_text(), "--dry-run")
    assert "Would import: 1 new" in output
    assert _snapshot() == before


GOOD_ACCOUNT = {"team_id": "t", "secure_c_ses": "s", "csesidx": "1"}


@pytest.mark.parametrize("content,needle", [
    ('{"accounts": [', "Invalid JSON at line 1"),
    ('[1, 2]', "must be a JSON object"),
    (json.dumps({"accounts": [GOOD_ACCOUNT, {"team_id": 7, "secure_c_ses": "s", "csesidx": "2"}]}),
     "accounts[1].team_id: Not a valid string."),
    (json.dumps({"accounts": [{"team_id": "t", "csesidx": "1"}]}), "accounts[0].secure_c_ses: This field is required"),
    (json.dumps({"accounts": [GOOD_ACCOUNT, dict(GOOD_ACCOUNT)]}), "accounts[1]: duplicates accounts[0]"),
    (json.dumps({"accounts": [{**GOOD_ACCOUNT, "available": "yes"}]}), "accounts[0].available: Must be true or false"),
    (json.dumps({"models": [{"id": "m", "context_length": "big"}]}),
     "models[0].context_length: Must be a whole number"),
    (json.dumps({"models": [{"id": "m"}, {"id": "m"}]}), "models[1].id: duplicates models[0]"),
    (json.dumps({"proxy": "127.0.0.1:7890"}), "proxy: Must be a proxy URL"),
    (json.dumps({"accounts": {"a": 1}}), "accounts: must be a list"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_bad_configs_fail_naming_the_problem_and_change_nothing(tmp_path, make_account, content, needle):
    make_account(team_id="existing", csesidx="99")
    before = _snapshot()
    with pytest.raises(CommandError) as caught:
        _import_file(tmp_path, content)
    assert needle in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert _snapshot() == before


def test_a_50_mb_file_is_refused_before_parsing(tmp_path):
    before = _snapshot()
    with pytest.raises(CommandError, match="the limit is 5 MB"):
        _import_file(tmp_path, b'{"accounts": [' + b" " * (50 * 1024 * 1024) + b"]}")
    assert _snapshot() == before


def test_a_missing_file_is_a_readable_error():
    with pytest.raises(CommandError, match="cannot read the file"):
        call_command("importconfig", "/nonexistent/config.json")


def test_a_failure_midway_rolls_back_everything(tmp_path, monkeypatch):
    from accounts import config_io

    calls = {"n": 0}
    original = config_io._import_model

    def failing(row, position):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return original(row, position)

    monkeypatch.setattr(config_io, "_import_model", failing)
    document = {"accounts": [GOOD_ACCOUNT], "models": [{"id": "a"}, {"id": "b"}]}
    before = _snapshot()
    with pytest.raises(RuntimeError):
        _import_file(tmp_path, json.dumps(document))
    assert _snapshot() == before
