"""`lockgate readiness`: the live configuration and data against the production checklists
(docs/readiness.md). Each item pass / warn / fail with its evidence and the fix; exit status 1
when any item fails, so CI can hold a deployment back."""

from __future__ import annotations

import sys

import click

from lockgate.auth.scopes import CONFIG_READ
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag

NOT_READY = 1
_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


@requires(CONFIG_READ)
@click.command("readiness")
@json_flag
@click.pass_obj
def readiness(obj: Ctx, as_json: bool) -> None:
    """Is this deployment ready for production? Exit 1 when any item fails."""
    from lockgate.readiness.report import run

    report = run(obj.services())
    if as_json:
        dump(report.as_dict())
    else:
        for item in report.items:
            click.echo(f"{_MARK[item.status]}  {item.id}: {item.title}")
            click.echo(f"      evidence: {item.evidence}")
            if item.fix and item.status != "pass":
                click.echo(f"      fix: {item.fix}")
        s = report.summary()
        verdict = "ready" if s["ready"] else "NOT READY"
        click.echo(f"\n{verdict}: {s['pass']} pass, {s['warn']} warn, {s['fail']} fail")
    sys.exit(0 if report.ready else NOT_READY)
