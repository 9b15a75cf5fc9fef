"""`lockgate feedback`: what users thought of the answers, per prompt version, model, app or
day, against the satisfaction target `feedback.target_rating`."""

from __future__ import annotations

import time

import click

from lockgate.auth.durations import parse_duration
from lockgate.auth.scopes import FEEDBACK
from lockgate.cli.authz import requires, tenant_view
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag
from lockgate.store.feedback import GROUP_BY


@click.group()
def feedback() -> None:
    """Users' ratings of answers."""


@requires(FEEDBACK)
@feedback.command("report")
@click.option("--by", type=click.Choice(GROUP_BY), default="prompt_version", show_default=True)
@click.option("--since", default="7d", show_default=True, help="Only this recent (30m, 2h, 7d).")
@click.option(
    "--tenant",
    default=None,
    help="Only this tenant's feedback (default: all for the host's operator; a key reads its "
    "own tenant's only).",
)
@json_flag
@click.pass_obj
def feedback_report(obj: Ctx, by: str, since: str, tenant: str | None, as_json: bool) -> None:
    """Per group: ratings, mean rating, share negative, and whether the target is met."""
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    view = tenant_view(obj, tenant)
    target = obj.settings.feedback.target_rating
    groups = obj.services().feedback.report(view, by, time.time() - window, target)
    if as_json:
        dump(
            {
                "by": by,
                "since_s": window,
                "tenant": view,
                "target_rating": target,
                "groups": [g.as_dict() for g in groups],
            }
        )
        return
    if not groups:
        click.echo("no feedback in that window")
        return
    click.echo(f"{by:<24} {'count':>7} {'mean':>6} {'negative':>9}  target {target:g}")
    for g in groups:
        mark = "met" if g.meets_target else "MISSED"
        click.echo(
            f"{g.key:<24} {g.count:>7} {g.mean_rating:>6.2f} {g.negative_share:>8.1%}  {mark}"
        )
