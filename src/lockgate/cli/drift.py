"""`lockgate drift report`: each tenant's recent window of grounded traffic against its
baseline, signal by signal (docs/drift.md). A report only: the scheduled check in
`lockgate serve` is what raises `drift.detected` events. `--fail-on-drift` makes a breach
exit 1, for cron and CI."""

from __future__ import annotations

import sys

import click

from lockgate.auth.durations import parse_duration
from lockgate.auth.scopes import METRICS_READ
from lockgate.cli.authz import requires, tenant_view
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag, ts

DRIFTED = 1  # exit status of --fail-on-drift when a signal breached


@click.group()
def drift() -> None:
    """Drift of questions, retrieval, refusals and feedback against a baseline."""


def _duration(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@requires(METRICS_READ)
@drift.command("report")
@click.option(
    "--tenant",
    default=None,
    help="Only this tenant (default: every tenant with recent traffic for the host's "
    "operator; a key reads its own tenant's only).",
)
@click.option("--app", default=None, help="Only this app's traffic (x-lockgate-app).")
@click.option("--recent", default=None, help="The recent window (default drift.recent_seconds).")
@click.option(
    "--baseline",
    default=None,
    help="The baseline: this long before the recent window (default drift.baseline_seconds, "
    "or drift.pinned_baseline when set).",
)
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when any signal drifted.")
@json_flag
@click.pass_obj
def drift_report(
    obj: Ctx,
    tenant: str | None,
    app: str | None,
    recent: str | None,
    baseline: str | None,
    fail_on_drift: bool,
    as_json: bool,
) -> None:
    """Per signal: baseline, recent, statistic, threshold and status."""
    from lockgate.drift.detector import DriftDetector

    recent_s, baseline_s = _duration(recent, "--recent"), _duration(baseline, "--baseline")
    view = tenant_view(obj, tenant)
    detector = DriftDetector.from_services(obj.services())
    recent_w, _ = detector.windows(recent_s=recent_s)
    tenants = [view] if view is not None else detector.loader.tenants(recent_w)
    at = recent_w.end  # every tenant's report over the same windows
    reports = [detector.report(t, app, at, recent_s, baseline_s) for t in tenants]
    drifted = any(r.breached for r in reports)
    if as_json:
        dump({"drift": drifted, "reports": [r.as_dict() for r in reports]})
    elif not reports:
        click.echo("no grounded traffic in the recent window")
    for report in [] if as_json else reports:
        scope = report.tenant if report.app is None else f"{report.tenant} app {report.app}"
        click.echo(
            f"tenant {scope}: recent {ts(report.recent.start)} - {ts(report.recent.end)}, "
            f"baseline {ts(report.baseline.start)} - {ts(report.baseline.end)}"
        )
        click.echo(
            f"  {'signal':<27} {'baseline':>9} {'recent':>9} {'statistic':>10} "
            f"{'threshold':>10}  {'status':<17} samples"
        )
        for s in report.signals:
            status = {"drift": "DRIFT", "insufficient_data": "insufficient data"}.get(
                s.status, s.status
            )
            click.echo(
                f"  {s.name:<27} {_fmt(s.baseline):>9} {_fmt(s.recent):>9} "
                f"{_fmt(s.statistic):>10} {s.threshold:>10.4f}  {status:<17} "
                f"{s.n_baseline}/{s.n_recent}"
            )
    if fail_on_drift and drifted:
        sys.exit(DRIFTED)
