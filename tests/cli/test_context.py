"""A command's events are written before its process exits: the event writer is told to let
batches fill for 10 s, the command (a real `lockgate` process) exits at once, and what it
queued (here the audit entry of a prompt push) is in the store afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lockgate.config import Settings
from lockgate.store.audit import AuditLog
from lockgate.store.db import make_engine
from tests.support.store import store_env

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "name: faq\nvariables: [question]\ntemplate: 'FAQ: {{ question }}'\n"


def test_a_command_writes_what_it_queued_before_it_exits(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prompt = tmp_path / "faq.yaml"
    prompt.write_text(PROMPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        LOCKGATE_HOME=str(home),
        LOCKGATE_EVENTS__FLUSH_INTERVAL_S="10",
        **store_env(home),
    )
    done = subprocess.run(
        [sys.executable, "-m", "lockgate.cli", "prompts", "push", str(prompt)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    engine = make_engine(Settings(home=home).store_url)
    try:
        entry = AuditLog(engine).last("prompt.pushed")
    finally:
        engine.dispose()
    assert entry is not None and entry["data"]["prompt"] == "faq"
