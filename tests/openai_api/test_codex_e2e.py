"""End to end: Codex CLI (it speaks only the Responses API) against gunicorn and the simulator.

Codex is installed under tools/codex by scripts/test (npm); without node or that install these tests skip.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from accounts.models import RequestLog

ROOT = Path(__file__).resolve().parents[2]
CODEX = ROOT / "tools" / "codex" / "node_modules" / ".bin" / "codex"
MODEL = "gemini-2.5-flash"

pytestmark = [
    pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: Codex CLI cannot run"),
    pytest.mark.skipif(not CODEX.exists(),
                       reason="Codex CLI is not installed (npm ci in tools/codex, or scripts/test)"),
]


def _codex_home(tmp_path: Path, gateway_url: str) -> Path:
    home = tmp_path / "codex-home"
    home.mkdir()
    # Loopback only: updates, analytics, feedback, telemetry and the features that reach github.com or
    # chatgpt.com (plugins, apps, model discovery) are off; --strict-config refuses a key this Codex lacks.
    (home / "config.toml").write_text(f'''model = "{MODEL}"
model_provider = "gempool"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"

[features]
plugins = false
remote_plugin = false
plugin_sharing = false
apps = false
tool_suggest = false
api_key_model_discovery = false
in_app_updates = false

[model_providers.gempool]
name = "gempool"
base_url = "{gateway_url}/v1"
env_key = "GEMPOOL_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
''')
    return home


def _codex_exec(tmp_path: Path, gateway_url: str, raw_key: str, prompt: str, *extra: str):
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    last = tmp_path / "last-message.txt"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(_codex_home(tmp_path, gateway_url)),
           "GEMPOOL_API_KEY": raw_key, "NO_COLOR": "1"}
    result = subprocess.run(
        [str(CODEX), "exec", "--strict-config", "--skip-git-repo-check", "--ephemeral", "-C", str(workdir),
         "-o", str(last), *extra, prompt],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    return result, (last.read_text() if last.exists() else "")


def test_codex_exec_completes_a_turn_through_gempool(gateway, api_key, pool_account, tmp_path):
    pool_account()
    result, last = _codex_exec(tmp_path, gateway.url, api_key[1], "Say hello to gempool")
    assert result.returncode == 0, result.stderr[-3000:]
    # The simulator repeats the query it got: Codex's instructions, then the user's turn.
    assert last.startswith(f"Simulated answer from {MODEL}."), (last, result.stderr[-3000:])
    assert "\n\nUser: Say hello to gempool\n\n" in last and last.rstrip().endswith("Assistant:")
    assert "You are a coding agent running in the Codex CLI" in last
    assert RequestLog.objects.filter(endpoint="responses", stream=True, status_code=200).exists()


def test_the_simulated_model_runs_codexs_own_shell_tool(gateway, api_key, pool_account, tmp_path):
    pool_account()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "marker.txt").write_text("token-5f3a9c\n")
    prompt = '[[sim:call=exec_command:{"cmd": "cat marker.txt"}]] What does marker.txt say?'
    result, last = _codex_exec(tmp_path, gateway.url, api_key[1], prompt, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [event["item"] for event in _json_lines(result.stdout)
                if event.get("type") == "item.completed" and event["item"].get("type") == "command_execution"]
    assert "cat marker.txt" in commands[-1]["command"], result.stdout[-3000:]
    assert "token-5f3a9c" in commands[-1]["aggregated_output"]
    # The second turn carried the command's output back; the simulated model's prose repeats it.
    assert "token-5f3a9c" in last, (last, result.stderr[-3000:])
    assert RequestLog.objects.filter(endpoint="responses").count() >= 2


def _json_lines(text: str) -> list[dict]:
    import json

    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
