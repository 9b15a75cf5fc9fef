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

# The same tests again with every test home's store on PostgreSQL (tests/support/store.py:
# a database per home, cloned from a migrated template), where a server answers: the whole
# suite, in two pytest-xdist workers. LOCKGATE_TEST_PG_SUITE=store runs only the modules that
# read or write the store; LOCKGATE_TEST_PG_WORKERS=1 runs in one process; =off skips it.
PG_SERVER="${LOCKGATE_TEST_PG:-postgresql+psycopg://postgres@127.0.0.1:5432}"
PG_SUITE="${LOCKGATE_TEST_PG_SUITE:-all}"
PG_TESTS=(tests)
if [ "$PG_SUITE" = store ]; then
  PG_TESTS=(
    tests/store tests/retrieval tests/ingest tests/auth tests/review tests/batch tests/budget
    tests/drift tests/eval tests/prompts tests/releases tests/alerts tests/readiness
    tests/security tests/cache tests/ui/test_stats.py tests/test_cli.py
    tests/gateway/test_traces.py tests/gateway/test_traces_api.py tests/gateway/test_feedback.py
    tests/gateway/test_reviews.py tests/gateway/test_tools.py tests/gateway/test_fuzz.py
    tests/gateway/test_source_privacy.py tests/gateway/test_prompt_pins.py
  )
fi
PG_WORKERS="${LOCKGATE_TEST_PG_WORKERS:-2}"
PG_XDIST=()
# loadfile: a module's tests stay in one worker, so its module-scoped fixtures (a built
# plugin, a served gateway) are made once, as in a run without xdist.
if [ "$PG_WORKERS" != 1 ]; then PG_XDIST=(-n "$PG_WORKERS" --dist loadfile); fi
PG_PROBE='import os, sys, sqlalchemy
try:
    sqlalchemy.create_engine(os.environ["LOCKGATE_TEST_PG"] + "/postgres",
                             connect_args={"connect_timeout": 5}).connect().close()
except Exception as exc:
    sys.exit(str(exc).splitlines()[0])'
if [ "$PG_SUITE" = off ]; then
  echo "######## lockgate: the PostgreSQL run of the suite is SKIPPED:" \
    "LOCKGATE_TEST_PG_SUITE=off" >&2
elif why=$(LOCKGATE_TEST_PG="$PG_SERVER" .venv/bin/python -c "$PG_PROBE" 2>&1); then
  LOCKGATE_TEST_STORE=postgresql LOCKGATE_TEST_PG="$PG_SERVER" \
    .venv/bin/python -m pytest -q "${PG_XDIST[@]}" "${PG_TESTS[@]}"
else
  echo "######## lockgate: NO PostgreSQL at $PG_SERVER, so the PostgreSQL run of the suite" \
    "is SKIPPED: $(printf '%s' "$why" | tail -1)" >&2
fi
