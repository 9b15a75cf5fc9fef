"""`lockgate serve` options: a worker count below one is refused by the command line (exit 2,
a message naming the option), before any settings are read or a process started. The real
multi-process server is exercised in tests/gateway/test_workers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lockgate.cli import main


@pytest.mark.parametrize("bad", ["0", "-2", "two"])
def test_workers_below_one_is_a_cli_error(tmp_path: Path, bad: str) -> None:
    env = {"LOCKGATE_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(main, ["serve", "--workers", bad], env=env)
    assert result.exit_code == 2, result.output
    assert "--workers" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "home" / "lockgate.db").exists()  # nothing was started
