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
