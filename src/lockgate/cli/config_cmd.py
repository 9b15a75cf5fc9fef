"""`lockgate config`: the effective configuration."""

from __future__ import annotations

import click

from lockgate.auth.scopes import CONFIG_READ
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.config import masked


@click.group()
def config() -> None:
    """Inspect the configuration."""


@requires(CONFIG_READ)
@config.command("show")
@click.pass_obj
def config_show(obj: Ctx) -> None:
    """Print the effective configuration (secrets masked)."""
    import yaml

    click.echo(yaml.safe_dump(masked(obj.settings), sort_keys=False))
