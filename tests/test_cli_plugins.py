"""Installed plugins add `lockgate` commands through the `register_commands` hook; a plugin
that raises costs a warning, not the command line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click
import pytest
from click.testing import CliRunner

from lockgate.cli import add_plugin_commands, main
from lockgate.plugins import hookimpl, plugin_manager


class _Hello:
    @hookimpl
    def register_commands(self, cli: Any) -> None:
        @cli.command()
        def hello() -> None:
            """Say hello."""
            click.echo("hello from a plugin")


class _Broken:
    @hookimpl
    def register_commands(self, cli: Any) -> None:
        raise RuntimeError("cannot build my commands\nsecond line")


@pytest.fixture
def plugins() -> Iterator[list[object]]:
    pm = plugin_manager()
    added: list[object] = []
    yield added
    for plugin in added:
        pm.unregister(plugin)


def test_plugin_commands_are_added_and_a_broken_plugin_only_warns(plugins, capsys) -> None:
    pm = plugin_manager()
    for plugin, name in ((_Hello(), "hello-plugin"), (_Broken(), "broken-plugin")):
        pm.register(plugin, name=name)
        plugins.append(plugin)
    group = click.Group("lockgate")
    add_plugin_commands(group)
    assert "hello" in group.commands
    err = capsys.readouterr().err
    assert err == (
        "lockgate: warning: plugin 'broken-plugin' added no commands: "
        "RuntimeError: cannot build my commands\n"
    )
    out = CliRunner().invoke(group, ["hello"])
    assert out.exit_code == 0 and out.output == "hello from a plugin\n"


def test_the_builtin_commands_are_registered() -> None:
    assert {"ingest", "docs", "search", "serve", "guard", "cost", "batch", "config"} <= set(
        main.commands
    )
    assert "retry" in main.commands["docs"].commands  # type: ignore[attr-defined]


def test_a_plugin_that_fails_to_load_only_warns(monkeypatch, capsys) -> None:
    import lockgate.plugins

    def broken() -> None:
        raise ImportError("No module named 'lockgate_extra'")

    monkeypatch.setattr(lockgate.plugins, "plugin_manager", broken)
    group = click.Group("lockgate")
    add_plugin_commands(group)
    assert group.commands == {}
    err = capsys.readouterr().err
    assert (
        err
        == "lockgate: warning: plugins not loaded: ImportError: No module named 'lockgate_extra'\n"
    )
