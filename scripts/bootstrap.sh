#!/usr/bin/env bash
# Create .venv and install Lockgate with its pinned dependencies. Safe to run again: it does
# nothing when pyproject.toml has not changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY=$candidate; break; fi
  done
fi
if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "lockgate: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
log=.venv/install.log
# pip's output goes to a log and is shown only when something fails.
run_pip() {
  if ! .venv/bin/python -m pip install "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "lockgate: dependency install failed; full log in $log" >&2
    exit 1
  fi
}
run_pip --upgrade pip wheel
# torch is pinned to 2.13.0: on the project's machines its CPU wheel lies in pip's find-links,
# so this never downloads a multi-GB CUDA build. llama-cpp-python compiles once (~5 min on
# 2 cores) and is reused from pip's wheel cache afterwards.
echo "lockgate: installing dependencies (first run compiles llama-cpp-python, ~5 min)..." >&2
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
run_pip -e ".[dev,scale]"
rm -f .venv/.installed-*
touch "$stamp"
