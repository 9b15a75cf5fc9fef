"""`lockgate cache`: the response cache's size and reuse, and clearing it."""

from __future__ import annotations

import time

import click

from lockgate.auth.scopes import CACHE_ADMIN
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag


@click.group()
def cache() -> None:
    """The response cache."""


@requires(CACHE_ADMIN)
@cache.command("stats")
@json_flag
@click.pass_obj
def cache_stats(obj: Ctx, as_json: bool) -> None:
    """Entries in the cache and how often they were reused."""
    response_cache = obj.services().response_cache
    response_cache.flush_hits()
    stats = response_cache.store.stats(time.time())
    if as_json:
        dump(stats)
        return
    click.echo(f"entries {stats['entries']}  live {stats['live']}  hits {stats['hits']}")


@requires(CACHE_ADMIN)
@cache.command("clear")
@click.option("--tenant", default=None, help="Only this tenant's entries.")
@click.pass_obj
def cache_clear(obj: Ctx, tenant: str | None) -> None:
    """Remove cached answers (all, or one tenant's)."""
    removed = obj.services().response_cache.clear(tenant)
    click.echo(f"removed {removed} cached answer(s)")
