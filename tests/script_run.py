"""Running a test's Python script in a fresh interpreter: for what needs a process of its own (gevent's
monkey-patching, what an import loads), with the project root as the working directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def assert_script_prints_ok(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> None:
    """Run `script` (python -c) with `args`; it must exit 0 having printed just "ok" (else: its stderr)."""
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                            check=False, env=env, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
