#!/usr/bin/env bash
# Install everything and run the whole test suite (lint first: a lint failure fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check src tests bench samples
.venv/bin/python -m pytest -q "$@"
