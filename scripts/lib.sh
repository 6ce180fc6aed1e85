# Shared helpers for scripts/start and scripts/test: find a Python >= 3.12 and keep .venv in sync.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

log() { printf '[gempool] %s\n' "$*" >&2; }

python_ok() {
    # A candidate must really run (pyenv shims exist for versions that are not active) and be >= 3.12.
    "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"; return 0
        fi
    done
    # pyenv installs versions that its shims refuse to run unless selected; use them directly.
    local root="${PYENV_ROOT:-$HOME/.pyenv}"
    for candidate in "$root"/versions/3.13*/bin/python3.13 "$root"/versions/3.12*/bin/python3.12; do
        if [ -x "$candidate" ] && python_ok "$candidate"; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

ensure_venv() {
    local python stamp want
    if [ -x "$VENV/bin/python" ] && python_ok "$VENV/bin/python"; then
        :
    else
        python="$(find_python)" || {
            log "gempool needs Python 3.12 or newer (Django 6.1). Tried python3.13, python3.12, python3"
            log "and pyenv's versions. Install one, e.g.: sudo apt-get install python3.12 python3.12-venv"
            exit 1
        }
        log "creating .venv with $python ($("$python" --version 2>&1))"
        rm -rf "$VENV"
        "$python" -m venv "$VENV"
    fi
    stamp="$VENV/.requirements.sha256"
    want="$(cat "$ROOT/requirements.txt" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing requirements into .venv"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$ROOT/requirements.txt" -c "$ROOT/constraints.txt"
        echo "$want" > "$stamp"
    fi
}
