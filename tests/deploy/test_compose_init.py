"""deploy/compose/init.py, the one-shot set-up before the compose gateways start: run for
real against a throwaway PostgreSQL database, twice (a restart must keep the keys)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from tests.support.postgres import throwaway_database

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "deploy" / "compose" / "init.py"


def run_init(url: str, keys: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCKGATE_", "PYTHONPATH"))}
    env.update(
        PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        LOCKGATE_HOME=str(home),
        LOCKGATE_STORE__URL=url,
        LOCKGATE_KEYS_DIR=str(keys),
        LOCKGATE_ENCRYPTION__MASTER_KEY_FILE=str(keys / "master.key"),
        LOCKGATE_ENCRYPTION__CREATE_KEY_FILE="true",
    )
    return subprocess.run(
        [sys.executable, str(INIT)], env=env, capture_output=True, text=True, timeout=120
    )


def test_init_migrates_the_store_and_makes_owner_only_keys_once(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    with throwaway_database("deployinit", empty=True) as engine:
        url = engine.url.render_as_string(hide_password=False)
        first = run_init(url, keys, tmp_path / "home")
        assert first.returncode == 0, first.stderr
        assert "store migrated" in first.stdout
        with engine.connect() as conn:
            applied = conn.execute(text("SELECT count(*) FROM schema_migrations")).scalar()
        assert applied and applied > 0
        made = {p.name: p.read_bytes() for p in keys.iterdir()}
        assert set(made) == {"master.key", "ui.secret", "audit.key"}
        for path in keys.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert len(made["ui.secret"].strip()) >= 32

        again = run_init(url, keys, tmp_path / "home")
        assert again.returncode == 0, again.stderr
        assert {p.name: p.read_bytes() for p in keys.iterdir()} == made
