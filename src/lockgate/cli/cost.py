"""`lockgate cost report` (spend and budgets) and `lockgate routing report` (what the
small/large router saved)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click

from lockgate.auth.scopes import COSTS
from lockgate.cli.authz import requires, tenant_view
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag


def _since(days: float | None, since: str | None) -> float:
    if since:
        return datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    return time.time() - days * 86400 if days else 0.0


def _spend_table(title: str, rows: list[dict[str, Any]]) -> None:
    click.echo(title)
    if not rows:
        click.echo("  (none)")
        return
    click.echo(f"  {'':<28} {'requests':>9} {'cost':>12} {'per request':>12} {'per 1k req':>12}")
    for r in rows:
        click.echo(
            f"  {str(r['name'])[:28]:<28} {r['requests']:>9} {r['cost']:>12.6f} "
            f"{r['cost_per_request']:>12.6f} {r['cost_per_1k_requests']:>12.4f}"
        )


# Spend of other tenants is theirs: a key reads its own tenant's (`authz.tenant_view`).
_TENANT = click.option("--tenant", default=None, help="Only this tenant's requests.")


@click.group()
def cost() -> None:
    """Spend computed from every request's actual usage."""


@requires(COSTS)
@cost.command("report")
@click.option("--days", type=float, default=None, help="Only the last N days.")
@click.option("--since", default=None, help="Only from this UTC date (YYYY-MM-DD).")
@_TENANT
@json_flag
@click.pass_obj
def cost_report_cmd(
    obj: Ctx, days: float | None, since: str | None, tenant: str | None, as_json: bool
) -> None:
    """Spend by model / key / day, cost per request and per 1,000 requests."""
    from lockgate.budget.report import cost_report

    services = obj.services()
    seen = tenant_view(obj, tenant)
    report = cost_report(services.engine, _since(days, since), services.budgets, seen)
    if as_json:
        dump(report)
        return
    t = report["total"]
    click.echo(
        f"requests {t['requests']}  cost {t['cost']:.6f}  per request "
        f"{t['cost_per_request']:.6f}  per 1,000 requests {t['cost_per_1k_requests']:.4f}"
    )
    _spend_table("by model", report["by_model"])
    _spend_table("by key", report["by_key"])
    _spend_table("by day (UTC)", report["by_day"])
    if report.get("budgets"):
        click.echo("budgets (current and past periods)")
        for b in report["budgets"]:
            click.echo(
                f"  {b['scope']:<28} {b['period']:<18} spent {b['spent']:.6f}  "
                f"held {b['reserved']:.6f}  requests {b['requests']}"
            )
    for a in report.get("alerts", []):
        click.echo(
            f"alert {a['kind']}: {a['scope']} {a['period']} spent {a['spent']:.6f} >= "
            f"{a['threshold']:.6f} at {a['at']}"
        )


@click.group()
def routing() -> None:
    """The small/large router."""


@requires(COSTS)
@routing.command("report")
@click.option("--hours", type=float, default=None, help="Only the last N hours (default: all).")
@_TENANT
@json_flag
@click.pass_obj
def routing_report_cmd(obj: Ctx, hours: float | None, tenant: str | None, as_json: bool) -> None:
    """Share of requests per model and cost saved against always using the large model."""
    from lockgate.routing.report import routing_report

    services = obj.services()
    since = time.time() - hours * 3600 if hours else 0.0
    seen = tenant_view(obj, tenant)
    report = routing_report(services.engine, services.settings, since, seen)
    if as_json:
        dump(report)
        return
    click.echo(f"routed requests: {report['routed_requests']}")
    for model, share in report["share"].items():
        click.echo(f"  {model:<24} {share * 100:6.1f}%  ({report['requests'][model]})")
    for reason, n in report["large_reasons"].items():
        click.echo(f"  large because {reason:<22} {n}")
    click.echo(
        f"cost {report['cost']:.6f}  always-large {report['always_large_cost']:.6f}  "
        f"saved {report['saved']:.6f} ({report['saved_pct']:.1f}%)"
    )
    click.echo(f"({report['note']})")


def _growth(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from lockgate.budget.projection import parse_growth

    try:
        return parse_growth(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


@requires(COSTS)
@cost.command("project")
@click.option("--users", type=click.IntRange(min=1), required=True, help="Users to project for.")
@click.option(
    "--growth", default="1x", callback=_growth, help="Traffic growth on top, e.g. 10x (default 1x)."
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Observe only the last N days (default: every trace).",
)
@_TENANT
@json_flag
@click.pass_obj
def cost_project_cmd(
    obj: Ctx, users: int, growth: float, days: float | None, tenant: str | None, as_json: bool
) -> None:
    """Monthly cost per model at N users, with and without the cache and the router, and the
    return against a person doing the same tasks."""
    import sys

    from lockgate.budget.projection import NoTraffic, project_from

    services = obj.services()
    seen = tenant_view(obj, tenant)
    try:
        proj = project_from(
            services.engine, services.settings, users, growth, _since(days, None), seen
        )
    except NoTraffic as exc:
        click.echo(f"lockgate: {exc}", err=True)
        sys.exit(1)
    if as_json:
        dump(proj.as_dict())
        return
    o = proj.observed
    small = "-" if o.routed_share_small is None else f"{o.routed_share_small * 100:.1f}%"
    click.echo(
        f"observed: {o.requests} requests, {o.users} users, {o.days} days with traffic, "
        f"{o.requests_per_user_per_day:.3f} requests/user/day, cost {o.cost:.6f}, "
        f"cache hits {o.cache_hit_rate * 100:.1f}%, routed small {small}"
    )
    for s in proj.scenarios:
        click.echo("")
        click.echo(
            f"at {s.users:,.0f} users: {s.monthly_requests:,.0f} requests/month, "
            f"average {s.average_rps:.3f} req/s, peak {s.peak_rps:.3f} req/s"
        )
        main = s.variant("cache+router")
        click.echo(
            f"  {'model':<28} {'requests':>12} {'tokens in':>14} {'tokens out':>14} {'cost':>12}"
        )
        for line in main.by_model:
            click.echo(
                f"  {line.model[:28]:<28} {line.requests:>12,.0f} {line.tokens_in:>14,.0f} "
                f"{line.tokens_out:>14,.0f} {line.cost:>12,.2f}"
            )
        totals = "  ".join(f"{v.name} {_money(v.total)}" for v in s.variants)
        click.echo(f"  monthly cost: {totals}")
        click.echo(
            f"  the cache saves {_money(s.cache_saving)}, the router {_money(s.router_saving)}"
        )
        if s.roi is not None:
            r = s.roi
            hours = "" if r.hours_saved is None else f", {r.hours_saved:,.0f} hours saved"
            ratio = "-" if r.roi is None else f"{r.roi:,.1f}x"
            click.echo(
                f"  ROI: {r.tasks:,.0f} tasks, by people {_money(r.human_cost)}, by the models "
                f"{_money(r.model_cost)}, net {_money(r.net_saving)} (return {ratio}){hours}"
            )
    for note in proj.notes:
        click.echo(f"({note})")
