"""`lockgate traces`: what was recorded about each request."""

from __future__ import annotations

import sys
from typing import Any

import click

from lockgate.auth.scopes import TRACES_READ
from lockgate.cli.authz import group_view, requires, tenant_view
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, echo_rows, json_flag, ts


@click.group()
def traces() -> None:
    """Inspect request traces."""


def _trace(r: dict[str, Any]) -> str:
    flags = "refused" if r["refused"] else ("grounded" if r["grounded"] else "")
    return (
        f"{r['id']}  {ts(r['created_at'])}  {r['tenant']:<10} {r['endpoint']:<22} "
        f"{r['model'] or '-':<14} "
        f"{r['status']:<9} {r['http_status'] or '-'} {r['latency_ms'] or 0:>8.1f} ms  {flags}"
    )


_TENANT = click.option(
    "--tenant",
    default=None,
    help="Only this tenant's traces (default: all for the host's operator; a key reads its "
    "own tenant's only).",
)


@requires(TRACES_READ)
@traces.command("list")
@click.option("-n", "limit", type=click.IntRange(1, 10000), default=20)
@_TENANT
@json_flag
@click.pass_obj
def traces_list(obj: Ctx, limit: int, tenant: str | None, as_json: bool) -> None:
    """The most recent requests."""
    view = tenant_view(obj, tenant)
    rows = obj.services().traces.list(limit, tenant=view, groups=group_view(obj))
    echo_rows(rows, as_json, _trace)


@requires(TRACES_READ)
@traces.command("show")
@click.argument("trace_id")
@_TENANT
@json_flag
@click.pass_obj
def traces_show(obj: Ctx, trace_id: str, tenant: str | None, as_json: bool) -> None:
    """Everything recorded about one request."""
    # Another tenant's trace, or one that retrieved chunks of groups the key lacks, reads as
    # one that does not exist.
    row = obj.services().traces.get(trace_id, tenant_view(obj, tenant), group_view(obj))
    if row is None:
        click.echo(f"lockgate: no trace {trace_id}", err=True)
        sys.exit(1)
    if as_json:
        dump(row)
        return
    for key in ("id", "endpoint", "model", "backend", "status", "http_status", "error"):
        click.echo(f"{key:>15}: {row[key]}")
    click.echo(f"{'created':>15}: {ts(row['created_at'])}")
    click.echo(f"{'prompt':>15}: {_prompt(row)}")
    click.echo(
        f"{'tokens':>15}: in {row['tokens_in']} / out {row['tokens_out']}  cost {row['cost']}"
    )
    click.echo(f"{'latency':>15}: {row['latency_ms']} ms  (first token {row['ttft_ms']} ms)")
    click.echo(f"{'refused':>15}: {row['refused']}   grounded: {row['grounded']}")
    for item in row["retrieved"] or []:
        mark = "*" if item.get("in_prompt") else " "
        click.echo(f"   {mark} chunk {item['chunk_id']:<6} {item['score']:.4f} {item['source']}")
    for stage in row["stages"] or []:
        click.echo(f"     {stage['stage']:<22} {stage['ms']:8.2f} ms {stage.get('note', '')}")
    click.echo("--- final prompt ---")
    click.echo(row["prompt"] or "")
    click.echo("--- raw output ---")
    click.echo(row["raw_output"] or "")
    click.echo("--- final output ---")
    click.echo(row["output"] or "")


def _prompt(row: dict[str, Any]) -> str:
    """`grounded_answer v3 (via production, sha256 1f2e...)`; `-` for a turn without one."""
    if not row.get("prompt_template"):
        return "-"
    shown = f"{row['prompt_template']} v{row['prompt_version']}"
    extra = []
    if row.get("prompt_label"):
        extra.append(f"via {row['prompt_label']}")
    if row.get("prompt_hash"):
        extra.append(f"sha256 {row['prompt_hash'][:12]}")
    return f"{shown} ({', '.join(extra)})" if extra else shown
