"""A plugin package installed for real (pip, into a temporary folder, found through its
`lockgate` entry point) adds a scanner that policies can use and a command to the CLI; a
misspelled scanner param stops the command with the config key named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).resolve().parent / "sample_plugin"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the sources.
    work = tmp_path_factory.mktemp("sample-plugin")
    source = work / "src"
    shutil.copytree(SAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = work / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--no-index", "--target", str(target), str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert list(target.glob("lockgate_sample_plugin-*.dist-info"))
    yield target


def lockgate(
    plugin_path: Path, cwd: Path, *args: str, config: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_path), str(ROOT / "src")])
    if config is not None:
        (cwd / "lockgate.yaml").write_text(config)
    return subprocess.run(
        [sys.executable, "-c", "from lockgate.cli import main; main(prog_name='lockgate')", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def policy(home: Path, params: str) -> str:
    return f"""\
home: {home}
guardrails:
  policies:
    default:
      input:
        - scanner: shout
          action: block
          params: {params}
      context: []
      output: []
"""


def test_plugin_command_is_listed_and_runs(plugin_path: Path, tmp_path: Path) -> None:
    shown = lockgate(plugin_path, tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "sample-hello" in shown.stdout
    ran = lockgate(plugin_path, tmp_path, "sample-hello", "tester")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hello tester, from lockgate-sample-plugin"


def test_policy_uses_the_plugin_scanner(plugin_path: Path, tmp_path: Path) -> None:
    config = policy(tmp_path / "home", "{min_letters: 5, ratio: 0.8}")
    shouted = lockgate(plugin_path, tmp_path, "guard", "SOME SHOUTED TEXT", "--json", config=config)
    assert shouted.returncode == 0, shouted.stderr
    result = json.loads(shouted.stdout)
    assert result["action"] == "block"
    assert [(f["scanner"], f["type"]) for f in result["findings"]] == [("shout", "SHOUTING")]
    assert result["scanners"][0]["scanner"] == "shout"
    assert result["scanners"][0]["action"] == "block"

    calm = lockgate(plugin_path, tmp_path, "guard", "Some calm text", "--json")
    assert calm.returncode == 0, calm.stderr
    assert json.loads(calm.stdout)["action"] == "allow"


def test_misspelled_plugin_param_stops_the_command(plugin_path: Path, tmp_path: Path) -> None:
    config = policy(tmp_path / "home", "{min_letter: 5}")
    out = lockgate(plugin_path, tmp_path, "guard", "SOME SHOUTED TEXT", "--json", config=config)
    assert out.returncode == 2
    assert (
        "invalid config key 'guardrails.policies.default.input[0].params.min_letter': "
        "Extra inputs are not permitted"
    ) in out.stderr
    assert out.stdout == ""


def test_without_the_plugin_its_scanner_is_unknown(tmp_path: Path) -> None:
    config = policy(tmp_path / "home", "{}")
    out = lockgate(tmp_path / "nothing-installed", tmp_path, "guard", "HELLO", config=config)
    assert out.returncode == 2
    assert "unknown scanner 'shout' (known: grounding, injection, leak, pii, topic, toxicity" in (
        out.stderr
    )
