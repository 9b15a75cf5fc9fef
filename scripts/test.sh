#!/usr/bin/env bash
# Install everything and run the whole test suite (lint and types first: either failing fails
# the run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check src tests bench samples
# Types: the settings in pyproject.toml ([tool.mypy]) cover all of src/lockgate.
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
