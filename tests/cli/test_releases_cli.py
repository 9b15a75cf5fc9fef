"""`lockgate release` against a real store: the full path create -> pilot -> percentage ->
rollback, each refused move a message and exit status 1 (2: usage), every change in the audit
log with who made it, and the scopes (reading for analysts, changes for admins only)."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lockgate.cli import main
from lockgate.config import Settings
from lockgate.services import Services

MODEL = "gemma-3-270m"  # in the built-in registry


def run(home: Path, *args: str, key: str | None = None) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    env["LOCKGATE_HOME"] = str(home)
    if key:
        env["LOCKGATE_API_KEY"] = key
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_a_release_from_create_to_rollback(home: Path) -> None:
    made = run(home, "release", "create", "r1", "--model", MODEL, "--prompt",
               "grounded_answer=1", "--param", "temperature=0.2", "--json")
    assert made.exit_code == 0, made.output
    body = json.loads(made.output)
    assert body["stage"] == "draft" and body["prompts"] == {"grounded_answer": 1}
    assert body["params"] == {"temperature": 0.2}
    assert run(home, "release", "promote", "r1", "--pilot", "alice,key:key_1").exit_code == 0
    moved = run(home, "release", "promote", "r1", "--percent", "10", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["percent"] == 10.0
    status = run(home, "release", "status", "--json")
    out = json.loads(status.output)
    assert out["rollout"] == "r1" and out["current"] is None
    assert [h["to"] for h in out["history"]] == ["draft", "pilot", "percentage"]
    assert {h["actor"] for h in out["history"]} == {f"cli:{getpass.getuser()}"}
    # The live window, against the turns no release served (there is no current release).
    assert out["window"]["against"] is None and "error_rate" in out["window"]["waiting"]
    text = run(home, "release", "status", "r1")
    assert "percentage 10%" in text.output and "draft ->" in text.output.replace("  ", " ")
    back = run(home, "release", "rollback", "r1", "--reason", "bad answers")
    assert back.exit_code == 0 and "rolled back" in back.output
    again = run(home, "release", "promote", "r1", "--full")
    assert again.exit_code == 1
    assert "rolled back and cannot serve again" in again.output
    listed = run(home, "release", "list", "--json")
    assert [(r["name"], r["stage"], r["reason"]) for r in json.loads(listed.output)] == [
        ("r1", "rolled_back", "bad answers")
    ]
    audit = Services(Settings(home=home)).audit.entries()
    kinds = [
        (e["kind"], e["data"].get("to_stage")) for e in audit if e["kind"].startswith("release")
    ]
    assert kinds == [
        ("release.stage_changed", "draft"), ("release.stage_changed", "pilot"),
        ("release.stage_changed", "percentage"), ("release.rolled_back", None),
    ]
    rolled = [e for e in audit if e["kind"] == "release.rolled_back"][0]
    assert rolled["actor"] == f"cli:{getpass.getuser()}"
    assert rolled["data"]["reason"] == "bad answers" and rolled["data"]["automatic"] is False


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["create", "bad name!", "--model", MODEL], 1, "must be 1-64 letters"),
        (["create", "r9", "--model", "no-such-model"], 1, "not in the registry"),
        (["create", "r9", "--prompt", "grounded_answer=9"], 1, "has no version 9"),
        (["create", "r9"], 1, "at least one prompt pin, model or parameter"),
        (["create", "r9", "--param", "temperature=9"], 1, "between 0 and 2"),
        (["create", "r9", "--param", "temperature"], 2, "takes NAME=VALUE"),
        (["promote", "nope", "--full"], 1, "no release named 'nope'"),
        (["promote", "r1"], 2, "exactly one of --pilot, --percent or --full"),
        (["promote", "r1", "--full", "--percent", "5"], 2, "exactly one"),
        (["promote", "r1", "--percent", "100"], 1, "below 100"),
        (["rollback", "nope", "--reason", "x"], 1, "no release named"),
        (["status", "nope"], 1, "no release named"),
    ],
)
def test_refusals_are_messages_with_an_exit_status(
    home: Path, args: list[str], status: int, message: str
) -> None:
    assert run(home, "release", "create", "r1", "--model", MODEL).exit_code == 0
    got = run(home, "release", *args)
    assert got.exit_code == status, got.output
    assert message in got.output and "Traceback" not in got.output


def test_one_rollout_at_a_time_and_full_retires_the_current(home: Path) -> None:
    for name in ("r1", "r2", "r3"):
        assert run(home, "release", "create", name, "--model", MODEL).exit_code == 0
    assert run(home, "release", "promote", "r1", "--full").exit_code == 0
    assert run(home, "release", "promote", "r2", "--percent", "5").exit_code == 0
    busy = run(home, "release", "promote", "r3", "--pilot", "alice")
    assert busy.exit_code == 1 and "'r2' is in rollout" in busy.output
    assert run(home, "release", "promote", "r2", "--full").exit_code == 0
    stages = {r["name"]: r["stage"] for r in json.loads(
        run(home, "release", "list", "--json").output)}
    assert stages == {"r1": "retired", "r2": "full", "r3": "draft"}
    checked = run(home, "release", "check", "--json")
    assert checked.exit_code == 0 and json.loads(checked.output) is None


def test_reading_needs_releases_read_and_changing_releases_admin(home: Path) -> None:
    services = Services(Settings(home=home))
    _, analyst = services.api_keys.create("ana", "acme", ["analyst"])
    _, developer = services.api_keys.create("dev", "acme", ["developer"])
    _, app = services.api_keys.create("svc", "acme", ["app"])
    _, admin = services.api_keys.create("ops", "acme", ["admin"])
    made = run(home, "release", "create", "r1", "--model", MODEL, key=admin)
    assert made.exit_code == 0, made.output
    for key in (analyst, developer):
        assert run(home, "release", "list", key=key).exit_code == 0
        assert run(home, "release", "status", key=key).exit_code == 0
        refused = run(home, "release", "promote", "r1", "--full", key=key)
        assert refused.exit_code == 3 and "releases:admin" in refused.output
    assert run(home, "release", "list", key=app).exit_code == 3
    assert run(home, "release", "promote", "r1", "--full", key=admin).exit_code == 0
    history = services.releases.history("r1")
    assert history[-1].actor.startswith("ops (key ")
