#!/usr/bin/env bash
# Install everything and run the whole test suite (lint and types first: either failing fails
# the run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The dashboard's browser tests drive Debian's Chromium (tests/ui/test_browser.py); they skip,
# saying why, where it cannot be installed.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
      || echo "lockgate: could not install chromium; the browser tests will skip" >&2
  fi
fi
.venv/bin/ruff check src tests bench samples
# Types: the settings in pyproject.toml ([tool.mypy]) cover all of src/lockgate.
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
