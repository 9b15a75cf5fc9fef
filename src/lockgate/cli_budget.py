"""CLI for issue 4c: `lockgate cost report`, `lockgate budget status`, `lockgate batch list`.

Kept out of `cli.py` so the shared command module only grows by a registration line."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _since(days: float | None, since: str | None) -> float:
    if since:
        return datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    return time.time() - days * 86400 if days else 0.0


def _table(title: str, rows: list[dict[str, Any]]) -> None:
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


def register(main: click.Group) -> None:
    @main.group()
    def cost() -> None:
        """Spend computed from every request's actual usage."""

    @cost.command("report")
    @click.option("--days", type=float, default=None, help="Only the last N days.")
    @click.option("--since", default=None, help="Only from this UTC date (YYYY-MM-DD).")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def cost_report_cmd(obj: Any, days: float | None, since: str | None, as_json: bool) -> None:
        """Spend by model / key / day, cost per request and per 1,000 requests."""
        from lockgate.budget.report import cost_report

        services = obj.services()
        report = cost_report(services.engine, _since(days, since), services.budgets)
        if as_json:
            _dump(report)
            return
        t = report["total"]
        click.echo(
            f"requests {t['requests']}  cost {t['cost']:.6f}  per request "
            f"{t['cost_per_request']:.6f}  per 1,000 requests {t['cost_per_1k_requests']:.4f}"
        )
        _table("by model", report["by_model"])
        _table("by key", report["by_key"])
        _table("by day (UTC)", report["by_day"])
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

    @main.group("batch")
    def batch_group() -> None:
        """Batches submitted through /v1/batches."""

    @batch_group.command("list")
    @click.option("--limit", type=int, default=20)
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_obj
    def batch_list(obj: Any, limit: int, as_json: bool) -> None:
        """The newest batches with their progress."""
        rows = obj.services().batches.list(limit)
        if as_json:
            _dump(rows)
            return
        for b in rows:
            c = b["request_counts"]
            click.echo(
                f"{b['id']}  {b['status']:<11} {c['completed']}/{c['total']} done, "
                f"{c['failed']} failed  output {b['output_file_id'] or '-'}"
            )
