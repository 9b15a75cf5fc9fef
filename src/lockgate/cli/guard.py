"""`lockgate guard` (run a guardrail policy on a text) and `lockgate escalations` (now the
guardrail part of the review queue)."""

from __future__ import annotations

import sys
from typing import Any, cast

import click

from lockgate.auth.scopes import GUARD_CHECK, REVIEW
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag


@requires(GUARD_CHECK)
@click.command()
@click.argument("text")
@click.option("--direction", type=click.Choice(["in", "out", "context"]), default="in")
@click.option("--app", default=None, help="Use this app's policy instead of the default.")
@json_flag
@click.pass_obj
def guard(obj: Ctx, text: str, direction: str, app: str | None, as_json: bool) -> None:
    """Run the configured guardrail policy on TEXT ('-' reads standard input)."""
    from lockgate.gateway.routes.guardrails import GuardCheckIn, check

    if text == "-":
        text = sys.stdin.read()
    if app and app not in obj.settings.guardrails.apps:
        click.echo(f"lockgate: no guardrail policy for app '{app}'", err=True)
        sys.exit(2)
    services = obj.services()
    services.guard.validate()
    # Load scanner models before timing starts: a cold load would overrun the scan budget.
    services.guard.warm()
    req = GuardCheckIn.model_validate({"text": text, "direction": direction, "app": app})
    # The operator on the host may pick any app: the CLI is not behind the gateway's edge.
    result = check(services, req, app)
    if as_json:
        dump(result)
        return
    click.echo(f"action: {result['action']}")
    for f in cast(list[dict[str, Any]], result["findings"]):
        span = text[f["start"] : f["end"]]
        where = f"[{f['start']}:{f['end']}]"
        click.echo(f"  {f['scanner']:<10} {f['type']:<12} {f['score']:.2f}  {where} {span[:60]!r}")
    if result["text"] != text:
        click.echo(f"redacted: {result['text']}")


@requires(REVIEW)
@click.command(hidden=True)
@click.option("--all", "show_all", is_flag=True, help="Include decided items.")
@click.option("--tenant", default=None)
@json_flag
@click.pass_context
def escalations(ctx: click.Context, show_all: bool, tenant: str | None, as_json: bool) -> None:
    """Deprecated: `lockgate review list --kind guardrail`."""
    from lockgate.cli.review import list_items

    click.echo("lockgate: 'escalations' is now 'review list --kind guardrail'", err=True)
    ctx.invoke(
        list_items,
        status="all" if show_all else "open",
        kind="guardrail",
        older=None,
        newer=None,
        limit=10_000,
        tenant=tenant,
        as_json=as_json,
    )
