"""End to end: Claude Code (it speaks only Anthropic's Messages API) against gunicorn and the simulator.

Claude Code is installed under tools/claude-code by scripts/test (npm); without node or that install these
tests skip. It runs in a throwaway HOME with its telemetry, error reporting, update checks and other
non-essential traffic off: strace showed a DNS lookup of api.anthropic.com without
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, and only loopback connections with it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from accounts.models import PoolSettings, RequestLog
from models_catalog.models import ModelAlias

ROOT = Path(__file__).resolve().parents[2]
CLAUDE = ROOT / "tools" / "claude-code" / "node_modules" / ".bin" / "claude"
MODEL = "gemini-2.5-flash"

pytestmark = [
    pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: Claude Code cannot run"),
    pytest.mark.skipif(not CLAUDE.exists(),
                       reason="Claude Code is not installed (npm ci in tools/claude-code, or scripts/test)"),
]


def _claude(tmp_path: Path, gateway_url: str, raw_key: str, *args: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
           "ANTHROPIC_BASE_URL": gateway_url, "ANTHROPIC_API_KEY": raw_key, "NO_COLOR": "1",
           "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1",
           "DISABLE_BUG_COMMAND": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1", "IS_SANDBOX": "1"}
    return subprocess.run([str(CLAUDE), *args], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=180)


def test_claude_print_answers_through_gempool(gateway, api_key, pool_account, tmp_path):
    pool_account()
    result = _claude(tmp_path, gateway.url, api_key[1], "-p", "Say hello to gempool", "--model", MODEL)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    # The simulator echoes the query: Claude Code's system prompt and tools, then the user's turn.
    assert result.stdout.startswith(f"Simulated answer from {MODEL}."), result.stdout[:500]
    assert "Say hello to gempool" in result.stdout and "<tool_use>" not in result.stdout
    assert RequestLog.objects.filter(endpoint="messages", model=MODEL, stream=True, status_code=200).exists()


def test_claude_runs_a_tool_loop_through_an_alias(gateway, api_key, pool_account, tmp_path):
    """The model (via an alias) calls Bash; Claude Code runs it, sends the result back, and gets the answer."""
    pool_account()
    ModelAlias.objects.create(alias="claude-sonnet-4-5", model_id="gemini-2.5-pro")
    call = '[[sim:call=Bash:{"command": "echo gempool-was-here > proof.txt", "description": "Write proof"}]]'
    result = _claude(tmp_path, gateway.url, api_key[1], "-p", f"Write the proof file {call}",
                     "--model", "claude-sonnet-4-5", "--allowedTools", "Bash")
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    assert (tmp_path / "work" / "proof.txt").read_text().strip() == "gempool-was-here"
    assert result.stdout.startswith("Simulated answer from gemini-2.5-pro.")
    assert '<tool_result call_id="toolu_' in result.stdout and 'name="Bash"' in result.stdout
    logged = list(RequestLog.objects.filter(endpoint="messages").order_by("created_at")
                  .values_list("model", "status_code", "tool_calls"))
    assert logged == [("gemini-2.5-pro", 200, 1), ("gemini-2.5-pro", 200, 0)]


def test_a_model_name_gempool_does_not_know_is_served_by_the_default_model(gateway, api_key, pool_account,
                                                                          tmp_path):
    pool_account()
    refused = _claude(tmp_path, gateway.url, api_key[1], "-p", "Hello", "--model", "claude-haiku-4-5")
    assert refused.returncode != 0 and "claude-haiku-4-5" in refused.stdout + refused.stderr
    PoolSettings.objects.update_or_create(pk=1, defaults={"default_model": MODEL})
    served = _claude(tmp_path, gateway.url, api_key[1], "-p", "Hello", "--model", "claude-haiku-4-5")
    assert served.returncode == 0, (served.stdout[-2000:], served.stderr[-2000:])
    assert served.stdout.startswith(f"Simulated answer from {MODEL}.")


def test_a_subagent_on_a_claude_model_gempool_does_not_know_is_served_by_the_default_model(
        gateway, api_key, pool_account, tmp_path):
    """The main model (an alias) starts an Explore subagent on "haiku"; Claude Code asks gempool for its own
    haiku model id, which only the default model can serve, and the subagent's answer comes back."""
    pool_account()
    ModelAlias.objects.create(alias="claude-sonnet-4-5", model_id="gemini-2.5-pro")
    PoolSettings.objects.update_or_create(pk=1, defaults={"default_model": MODEL})
    call = ('[[sim:call=Agent:{"description": "Look around", "prompt": "List the files here", '
            '"subagent_type": "Explore", "model": "haiku", "run_in_background": false}]]')
    logged_before = len(gateway.log_text())
    result = _claude(tmp_path, gateway.url, api_key[1], "-p", f"Explore {call}", "--model", "claude-sonnet-4-5")
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    lines = gateway.log_text()[logged_before:].splitlines()
    asked = [line.split(" model=", 1)[1].split(" ", 1)[0]  # the face logs each request's model name
             for line in lines if "anthropic_api.views messages request" in line]
    haiku = [name for name in asked if "haiku" in name]
    assert haiku and not ModelAlias.objects.filter(alias__in=haiku).exists(), asked  # a name gempool lacks
    served = set(RequestLog.objects.filter(endpoint="messages", status_code=200).values_list("model", flat=True))
    assert served == {"gemini-2.5-pro", MODEL}  # the alias for the main agent, the default for the subagent
    assert 'name="Agent"' in result.stdout and f"Simulated answer from {MODEL}." in result.stdout
