"""Scopes on CLI commands: every command declares one; with a key (`--api-key` or
LOCKGATE_API_KEY) a command runs with that key's scopes and tenant and is refused with exit
status 3 otherwise; without a key the host's operator runs anything, unless
`auth.cli_requires_key` makes a key mandatory."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from lockgate.cli import main
from lockgate.cli.authz import DENIED, guard_commands, leaves, scope_of
from lockgate.config import Settings
from lockgate.gateway.app import create_app
from lockgate.observability.events import AccessDenied
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import registered
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve
from tests.test_cli import invoke


class Host:
    def __init__(self, root: Path) -> None:
        self.root, self.home = root, root / "home"
        self.services = Services(Settings(home=self.home))
        self.keys = {
            who: self.services.api_keys.create(who, tenant, roles)[1]
            for who, tenant, roles in (
                ("a_app", "a", ["app"]),
                ("a_dev", "a", ["developer"]),
                ("b_dev", "b", ["developer"]),
                ("root", "a", ["admin"]),
            )
        }
        self.ids = {"a": [self._trace("a", i) for i in range(3)], "b": [self._trace("b", 0)]}

    def _trace(self, tenant: str, i: int) -> str:
        trace_id = f"{tenant}{i:031d}"
        self.services.traces.record(
            {
                "id": trace_id,
                "created_at": time.time() + i,
                "principal": f"{tenant}-caller",
                "tenant": tenant,
                "endpoint": "/v1/chat/completions",
                "stream": 0,
                "status": "ok",
                "degraded": 0,
                "output": f"the answer for tenant {tenant}",
            }
        )
        return trace_id

    def run(self, *args: str, key: str | None = None, env: dict[str, str] | None = None) -> Any:
        extra = ["--api-key", self.keys[key]] if key else []
        return invoke([*extra, *args], self.home, self.root, env=env)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_every_command_declares_a_scope() -> None:
    every = list(leaves(main))
    assert len(every) >= 30
    assert [name for name, cmd in every if scope_of(cmd) is None] == []
    scopes = {name: scope_of(cmd) for name, cmd in every}
    assert scopes["traces list"] == "traces:read" and scopes["keys create"] == "keys:admin"
    assert scopes["ask"] == "chat" and scopes["search"] == "search"


def test_without_a_key_the_operator_runs_anything(host: Host) -> None:
    for args in (["traces", "list", "--json"], ["keys", "list"], ["config", "show"]):
        result = host.run(*args)
        assert result.exit_code == 0, (args, result.output)
    listed = json.loads(host.run("traces", "list", "--json").stdout)
    assert {t["tenant"] for t in listed} == {"a", "b"}


@pytest.mark.parametrize(
    ("who", "args", "scope"),
    [
        ("a_app", ["traces", "list"], "traces:read"),
        ("a_app", ["traces", "show", "x"], "traces:read"),
        ("a_dev", ["keys", "list"], "keys:admin"),
        ("a_dev", ["keys", "create", "--name", "x", "--tenant", "a", "--role", "admin"], None),
        ("a_dev", ["config", "show"], "config:read"),
        ("a_dev", ["audit", "list"], "audit:read"),
        ("a_dev", ["privacy", "forget", "--subject", "x", "--yes"], "privacy:admin"),
        ("a_app", ["cost", "report"], "costs"),
        ("a_dev", ["docs", "list"], "docs:read"),
        ("a_dev", ["ingest", "."], "docs:write"),
        ("a_dev", ["batch", "list"], "batches:admin"),
        ("a_dev", ["escalations"], "review"),
        ("a_dev", ["serve"], "gateway:serve"),
    ],
)
def test_a_key_without_the_scope_is_exit_3(
    host: Host, who: str, args: list[str], scope: str | None
) -> None:
    before = len(host.services.api_keys.list())
    result = host.run(*args, key=who)
    assert result.exit_code == DENIED, result.output
    assert "Traceback" not in result.output
    assert f"'{scope or 'keys:admin'}' scope" in result.stderr
    assert result.stdout == ""  # nothing ran
    assert len(host.services.api_keys.list()) == before


def test_a_key_with_the_scope_runs_as_its_tenant(host: Host) -> None:
    listed = json.loads(host.run("traces", "list", "--json", key="a_dev").stdout)
    assert [t["id"] for t in listed] == host.ids["a"][::-1]
    listed = json.loads(host.run("traces", "list", "--json", "--tenant", "a", key="a_dev").stdout)
    assert {t["tenant"] for t in listed} == {"a"}
    shown = host.run("traces", "show", host.ids["a"][0], "--json", key="a_dev")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["tenant"] == "a"
    # Another tenant's trace reads as one that does not exist.
    other = host.run("traces", "show", host.ids["b"][0], key="a_dev")
    assert other.exit_code == 1 and f"no trace {host.ids['b'][0]}" in other.stderr
    assert "tenant b" not in other.output
    # Asking for another tenant is refused outright.
    asked = host.run("traces", "list", "--tenant", "b", key="a_dev")
    assert asked.exit_code == DENIED and "cannot read 'b'" in asked.stderr
    # An admin key is a key too: its own tenant only (the operator tenant sees all).
    mine = json.loads(host.run("traces", "list", "--json", key="root").stdout)
    assert {t["tenant"] for t in mine} == {"a"}


def test_a_key_reads_group_restricted_traces_only_with_the_groups(host: Host) -> None:
    hr_id = "h" + "0" * 31
    host.services.traces.record(
        {
            "id": hr_id,
            "created_at": time.time() + 10,
            "principal": "a-caller",
            "tenant": "a",
            "endpoint": "/v1/search",
            "stream": 0,
            "status": "ok",
            "degraded": 0,
            "retrieved": [{"chunk_id": 1, "score": 0.5, "source": "salaries.md", "groups": ["hr"]}],
        }
    )
    host.keys["a_hr"] = host.services.api_keys.create("a_hr", "a", ["developer"], groups=["hr"])[1]
    for who, sees in (("a_dev", False), ("a_hr", True), ("root", True)):
        listed = json.loads(host.run("traces", "list", "--json", key=who).stdout)
        assert (hr_id in [t["id"] for t in listed]) is sees, who
        assert (host.run("traces", "show", hr_id, key=who).exit_code == 0) is sees, who
    assert host.run("traces", "show", hr_id).exit_code == 0  # the host's operator, no key


def test_the_operator_filters_by_tenant(host: Host) -> None:
    listed = json.loads(host.run("traces", "list", "--json", "--tenant", "b").stdout)
    assert [t["id"] for t in listed] == host.ids["b"]
    shown = host.run("traces", "show", host.ids["b"][0], "--tenant", "a")
    assert shown.exit_code == 1


def test_the_operator_tenant_reads_every_tenant(host: Host) -> None:
    config = host.root / "lockgate.yaml"
    config.write_text(yaml.safe_dump({"auth": {"operator_tenant": "a"}}), encoding="utf-8")
    result = host.run("--config", str(config), "traces", "list", "--json", key="a_dev")
    assert {t["tenant"] for t in json.loads(result.stdout)} == {"a", "b"}
    result = host.run("--config", str(config), "traces", "list", "--json", key="b_dev")
    assert {t["tenant"] for t in json.loads(result.stdout)} == {"b"}


def test_the_key_may_come_from_the_environment(host: Host) -> None:
    env = {"LOCKGATE_API_KEY": host.keys["a_app"]}
    result = host.run("traces", "list", env=env)
    assert result.exit_code == DENIED and "'traces:read'" in result.stderr
    env = {"LOCKGATE_API_KEY": host.keys["a_dev"]}
    assert host.run("traces", "list", env=env).exit_code == 0


@pytest.mark.parametrize("bad", ["lg_abcdefgh_nope", "not-a-key", ""])
def test_a_bad_key_is_exit_3(host: Host, bad: str) -> None:
    result = invoke(["--api-key", bad, "keys", "list"], host.home, host.root)
    if bad == "":  # an empty key is no key: the operator
        assert result.exit_code == 0
        return
    assert result.exit_code == DENIED and "API key was refused" in result.stderr
    assert "Traceback" not in result.output


def test_a_revoked_key_is_exit_3(host: Host) -> None:
    rec, key = host.services.api_keys.create("gone", "a", ["admin"])
    host.services.api_keys.revoke(rec.id)
    result = invoke(["--api-key", key, "keys", "list"], host.home, host.root)
    assert result.exit_code == DENIED and "revoked" in result.stderr


def test_cli_requires_key(host: Host) -> None:
    config = host.root / "lockgate.yaml"
    config.write_text(yaml.safe_dump({"auth": {"cli_requires_key": True}}), encoding="utf-8")
    result = host.run("--config", str(config), "traces", "list")
    assert result.exit_code == DENIED and "requires an API key" in result.stderr
    result = host.run("--config", str(config), "traces", "list", "--json", key="a_dev")
    assert result.exit_code == 0 and {t["tenant"] for t in json.loads(result.stdout)} == {"a"}
    result = host.run("--config", str(config), "keys", "list", key="a_dev")
    assert result.exit_code == DENIED
    assert host.run("--config", str(config), "keys", "list", key="root").exit_code == 0
    # Help needs no key.
    assert host.run("--config", str(config), "traces", "--help").exit_code == 0


def test_search_with_a_key_searches_as_the_key(host: Host, embedder) -> None:
    result = invoke(
        ["--api-key", host.keys["a_app"], "search", "anything", "--tenant", "b"],
        host.home,
        host.root,
        embedder,
    )
    assert result.exit_code == DENIED and "cannot read 'b'" in result.stderr
    result = invoke(
        ["--api-key", host.keys["a_app"], "search", "anything", "--groups", "hr"],
        host.home,
        host.root,
        embedder,
    )
    assert result.exit_code == DENIED and "not a member of: hr" in result.stderr
    result = invoke(
        ["--api-key", host.keys["a_app"], "search", "anything", "--json"],
        host.home,
        host.root,
        embedder,
    )
    assert result.exit_code == 0, result.output


class _Recorder:
    def __init__(self) -> None:
        self.denied: list[AccessDenied] = []

    @hookimpl
    def track_event(self, event: Any, services: Any) -> None:
        if isinstance(event, AccessDenied):
            self.denied.append(event)


def test_a_denial_is_an_audit_event(host: Host) -> None:
    recorder = _Recorder()
    with registered(recorder, name="cli-denials"):
        assert host.run("keys", "list", key="a_dev").exit_code == DENIED
    (event,) = recorder.denied
    assert (event.principal, event.tenant, event.scope, event.method, event.path) == (
        "a_dev",
        "a",
        "keys:admin",
        "CLI",
        "keys list",
    )


@pytest.fixture
def undeclared() -> Iterator[click.Command]:
    @click.command("undeclared-thing")
    def command() -> None:
        click.echo("ran")

    main.add_command(command)
    try:
        yield command
    finally:
        main.commands.pop("undeclared-thing")


def test_an_undeclared_command_runs_for_the_operator_only(host: Host, undeclared) -> None:
    result = host.run("undeclared-thing", key="root")
    assert result.exit_code == DENIED and "declares no scope" in result.stderr
    assert "ran" not in result.stdout
    assert host.run("undeclared-thing").stdout == "ran\n"
    guard_commands(main)  # idempotent: wrapping twice checks once
    assert host.run("undeclared-thing").stdout == "ran\n"


def test_ask_leaves_the_key_to_the_gateway(tmp_path: Path, embedder, fake_upstream) -> None:
    settings = make_settings(tmp_path / "home", fake_upstream, auth={}, grounded={"model": "echo"})
    services = make_services(settings, embedder)
    _, key = services.api_keys.create("asker", "default", ["app"])
    _, reviewer = services.api_keys.create("rev", "default", ["reviewer"])
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        # The global option; the key is not in this (other) host's store: not checked here.
        answered = invoke(
            ["--api-key", key, "ask", "hello?", "--url", base, "--json"],
            tmp_path / "other",
            tmp_path,
        )
        assert answered.exit_code == 0, answered.output
        args = ["--api-key", reviewer, "ask", "hello?", "--url", base]
        refused = invoke(args, tmp_path / "other", tmp_path)
        assert refused.exit_code == 1 and "403" in refused.stderr and "'chat'" in refused.stderr
