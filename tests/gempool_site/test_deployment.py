"""The deployment files stay valid: docker-compose.yml parses, .env.example names every setting."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_accepts_the_compose_file():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (scripts/test installs it when run as root)")
    result = subprocess.run([binary, "config"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for needle in ("gateway:", "postgres:", "redis:", "healthcheck:", "gempool-data:"):
        assert needle in result.stdout


def test_env_example_lists_every_setting_the_code_reads():
    sources = [*ROOT.glob("gempool_site/*.py"), *ROOT.glob("*/management/commands/*.py")]
    read, renamed = set(), set()
    for source in sources:
        read |= set(re.findall(r'"((?:GEMPOOL|DJANGO)_[A-Z_]+|DATABASE_URL|REDIS_URL)"', source.read_text()))
        renamed |= set(re.findall(r'env_renamed\("([A-Z_]+)"', source.read_text()))  # read only to refuse them
    read -= {"DJANGO_SETTINGS_MODULE", *renamed}
    documented = set(re.findall(r"^# ((?:GEMPOOL|DJANGO)_[A-Z_]+|DATABASE_URL|REDIS_URL)=",
                                (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - documented == set(), "add these to .env.example and the README"
    readme = (ROOT / "README.md").read_text()
    assert {name for name in read if f"`{name}`" not in readme and name not in readme} == set()


def test_the_monitoring_profile_adds_prometheus_and_grafana():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (scripts/test installs it when run as root)")
    result = subprocess.run([binary, "--profile", "monitoring", "config"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    for needle in ("prometheus:", "grafana:", "deploy/grafana/gempool.json", "GEMPOOL_METRICS_BIND"):
        assert needle in result.stdout
