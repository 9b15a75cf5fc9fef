"""`lockgate prompts` against a real store: push (new versions, unchanged content, bad
files), list, show, diff, label and rollback, each push and move in the audit log with who
did it; keys need `prompts:write` to change and `prompts:read` to look."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lockgate.cli import main
from lockgate.config import Settings
from lockgate.services import Services

V2 = """\
name: grounded_answer
description: Shorter instructions.
variables: [sources, question]
model: {temperature: 0.1}
template: |
  Answer from the sources only.
  {{ sources }}
  Question: {{ question }}
"""


def run(home: Path, *args: str, key: str | None = None) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    env["LOCKGATE_HOME"] = str(home)
    if key:
        env["LOCKGATE_API_KEY"] = key
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "grounded.yaml").write_text(V2, encoding="utf-8")
    (folder / "faq.yml").write_text(
        "name: faq\nvariables: [question]\ntemplate: 'FAQ: {{ question }}'\n", encoding="utf-8"
    )
    return folder


def test_push_list_show_and_unchanged(home: Path, files: Path) -> None:
    seeded = run(home, "prompts", "list")
    assert seeded.exit_code == 0, seeded.output
    assert "grounded_answer  latest v1  labels production=v1" in seeded.output
    pushed = run(home, "prompts", "push", str(files), "--json")
    assert pushed.exit_code == 0, pushed.output
    rows = {r["name"]: r for r in json.loads(pushed.stdout)}
    assert (
        rows["grounded_answer"]["version"] == 2 and rows["grounded_answer"]["status"] == "created"
    )
    assert rows["faq"]["version"] == 1
    again = run(home, "prompts", "push", str(files / "grounded.yaml"))
    assert again.exit_code == 0 and "grounded_answer: unchanged (version 2" in again.output
    listed = json.loads(run(home, "prompts", "list", "--json").stdout)
    assert {r["name"]: (r["latest"], r["labels"]) for r in listed} == {
        "faq": (1, {}),
        "faithfulness_judge": (1, {"production": 1}),
        "grounded_answer": (2, {"production": 1}),
    }
    shown = run(home, "prompts", "show", "grounded_answer")  # the latest
    assert shown.exit_code == 0
    assert shown.output.startswith("# grounded_answer version 2  sha256 ")
    assert "Answer from the sources only." in shown.output and "temperature: 0.1" in shown.output
    prod = run(home, "prompts", "show", "grounded_answer@production")
    assert "Internal reference {{ canary }}: never repeat it." in prod.output
    assert "labels production" in prod.output
    one = json.loads(run(home, "prompts", "show", "grounded_answer@1", "--json").stdout)
    assert (
        one["version"] == 1 and one["created_by"] == "builtin" and one["labels"] == ["production"]
    )
    missing = run(home, "prompts", "show", "grounded_answer@9")
    assert missing.exit_code == 1 and "has no version 9" in missing.output


def test_a_bad_file_stores_nothing(home: Path, files: Path) -> None:
    (files / "broken.yaml").write_text(
        "name: broken\nvariables: [question]\ntemplate: '{{ questoin }}'\n", encoding="utf-8"
    )
    out = run(home, "prompts", "push", str(files))
    assert out.exit_code == 2
    assert "broken.yaml: variables: used but not declared: questoin" in out.output
    assert "Traceback" not in out.output
    listed = json.loads(run(home, "prompts", "list", "--json").stdout)
    # Nothing of the folder went in: only the two packaged seeds are there.
    assert [r["name"] for r in listed] == ["faithfulness_judge", "grounded_answer"]
    nowhere = run(home, "prompts", "push", str(files / "none.yaml"))
    assert nowhere.exit_code == 2 and "no such file or folder" in nowhere.output


def test_diff_label_rollback_and_the_audit_log(home: Path, files: Path) -> None:
    run(home, "prompts", "push", str(files))
    diff = run(home, "prompts", "diff", "grounded_answer", "production", "2")
    assert diff.exit_code == 0
    assert diff.output.startswith("--- grounded_answer@production (version 1)\n")
    assert "+++ grounded_answer@2 (version 2)" in diff.output
    assert "-  Internal reference {{ canary }}: never repeat it.\n" in diff.output
    assert (
        "+  Answer from the sources only.\n" in diff.output and "+  temperature: 0.1" in diff.output
    )
    same = run(home, "prompts", "diff", "grounded_answer", "1", "production")
    assert "have the same content" in same.output
    moved = run(home, "prompts", "label", "grounded_answer", "production", "2")
    assert moved.exit_code == 0 and "version 2 (was version 1)" in moved.output
    assert "unchanged" in run(home, "prompts", "label", "grounded_answer", "production", "2").output
    bad = run(home, "prompts", "label", "grounded_answer", "Prod!", "2")
    assert bad.exit_code == 2 and "must match" in bad.output
    gone = run(home, "prompts", "label", "grounded_answer", "staging", "5")
    assert gone.exit_code == 1 and "has no version 5" in gone.output
    back = run(home, "prompts", "rollback", "grounded_answer")
    assert back.exit_code == 0 and "version 1 (rolled back from 2)" in back.output
    none = run(home, "prompts", "rollback", "grounded_answer", "--label", "production")
    assert none.exit_code == 2 and "no earlier version to roll back to" in none.output
    everything = json.loads(run(home, "audit", "list", "--json").stdout)
    entries = [e for e in everything if e["kind"].startswith("prompt.")]
    kinds = [(e["kind"], e["data"].get("action"), e["data"].get("version")) for e in entries]
    assert kinds == [  # newest first
        ("prompt.label", "rollback", None),
        ("prompt.label", "label", None),
        ("prompt.pushed", None, 2),  # grounded.yaml, after faq.yml in path order
        ("prompt.pushed", None, 1),
    ]
    assert all(e["actor"].startswith("cli") for e in entries)
    assert entries[0]["data"]["from_version"] == 2 and entries[0]["data"]["to_version"] == 1
    verified = run(home, "audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_keys_need_the_prompt_scopes(home: Path, files: Path) -> None:
    services = Services(Settings(home=home))
    keys = {
        role: services.api_keys.create(f"{role}-key", "acme", [role])[1]
        for role in ("developer", "analyst", "app")
    }
    services.engine.dispose()
    dev = run(home, "prompts", "push", str(files), key=keys["developer"])
    assert dev.exit_code == 0, dev.output
    label = run(home, "prompts", "label", "faq", "staging", "1", key=keys["developer"])
    assert label.exit_code == 0
    assert run(home, "prompts", "list", key=keys["analyst"]).exit_code == 0
    assert run(home, "prompts", "show", "faq@staging", key=keys["analyst"]).exit_code == 0
    refused = run(home, "prompts", "label", "faq", "production", "1", key=keys["analyst"])
    assert refused.exit_code == 3 and "'prompts:write' scope" in refused.output
    nothing = run(home, "prompts", "list", key=keys["app"])
    assert nothing.exit_code == 3 and "'prompts:read' scope" in nothing.output
    entries = json.loads(run(home, "audit", "list", "--json").stdout)
    moved = [e for e in entries if e["kind"] == "prompt.label"]
    assert moved and moved[0]["actor"] == "developer-key"  # the key's principal, not the host
