"""The deployment files stay valid: docker-compose.yml parses, .env.example names every setting."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_accepts_the_compose_file():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (scripts/test installs it when run as root)")
    result = subprocess.run([binary, "config"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for needle in ("gateway:", "postgres:", "redis:", "healthcheck:", "gempool-data:"):
        assert needle in result.stdout
    services = yaml.safe_load(result.stdout)["services"]
    # Only the buffering proxy is published; the gateway is reached through it alone.
    assert "ports" not in services["gateway"] and services["proxy"]["ports"]
    assert services["proxy"]["image"].startswith("nginx:")
    mount = services["proxy"]["volumes"][0]  # short syntax (docker-compose 1.x) or long (compose v2)
    source, read_only = (mount["source"], mount.get("read_only")) if isinstance(mount, dict) else \
        (mount.split(":")[0], mount.endswith(":ro"))
    assert Path(source) == ROOT / "deploy" / "nginx.conf" and read_only


def test_the_reverse_proxy_buffers_requests_and_streams_v1():
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    server = config[config.index("server {"):]
    assert re.search(r"^\s*proxy_request_buffering on;", server, re.MULTILINE)
    v1 = server[server.index("location /v1/"):]
    v1 = v1[:v1.index("}")]
    assert "proxy_buffering off;" in v1 and "proxy_pass http://gempool;" in v1
    for directive in ("client_body_timeout", "client_header_timeout", "proxy_read_timeout", "client_max_body_size"):
        assert re.search(rf"^\s*{directive} \S+;", server, re.MULTILINE), directive
    # The gateway believes the last X-Forwarded-For hop: nginx must set it, not append to the client's.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in server


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
