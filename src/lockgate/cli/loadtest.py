"""`lockgate loadtest`: drive a deployment at a fixed arrival rate and report what it did
(docs/loadtest.md); the result is stored for the readiness report."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from lockgate.auth.scopes import LOADTEST
from lockgate.cli.authz import requires
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag


def _fmt(value: float | None, unit: str = " ms") -> str:
    return "-" if value is None else f"{value:,.1f}{unit}"


def _print(r: dict[str, Any]) -> None:
    lat, ttft, lag = r["latency_ms"], r["ttft_ms"], r["lag_ms"]
    click.echo(f"{r['url']}  scenario: {r['scenario']}")
    click.echo(
        f"requests {r['requests']} at {r['rps_target']:g}/s for {r['duration']:g} s "
        f"(sent at {r['rps_sent']:.2f}/s); ok {r['ok']}, throughput {r['rps_achieved']:.2f}/s "
        f"over {r['wall_s']:.2f} s"
    )
    click.echo(
        f"latency  p50 {_fmt(lat['p50'])}  p95 {_fmt(lat['p95'])}  p99 {_fmt(lat['p99'])}  "
        f"max {_fmt(lat['max'])}"
    )
    click.echo(
        f"ttft     p50 {_fmt(ttft['p50'])}  p95 {_fmt(ttft['p95'])}  p99 {_fmt(ttft['p99'])}"
    )
    errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
    click.echo(f"errors   {r['error_rate'] * 100:.2f}%  ({errors})")
    if r["cost"] is None:
        click.echo("cost     not reported by the deployment")
    else:
        click.echo(
            f"cost     {r['cost']:.6f} ({r['cost_per_1k_requests']:.4f} per 1,000 requests); "
            f"tokens in {r['tokens_in']:,}, out {r['tokens_out']:,}"
        )
    click.echo(
        f"generator: {r['generator_cpu'] * 100:.1f}% of a core, schedule lag p50 "
        f"{_fmt(lag['p50'])} p99 {_fmt(lag['p99'])} max {_fmt(lag['max'])}, "
        f"{r['connections']} connections"
    )
    if r["projected_load_multiple"] is not None:
        click.echo(
            f"load: {r['projected_load_multiple']:.2f}x the projected peak of "
            f"{r['projected_peak_rps']:.4f} req/s"
        )
    else:
        click.echo("load: no projected peak (no traffic in the traces to project from)")
    for warning in r["warnings"]:
        click.echo(f"warning: {warning}", err=True)


@requires(LOADTEST)
@click.command()
@click.option("--url", required=True, help="Base URL of the deployment (http://host:port).")
@click.option(
    "--rps",
    type=click.FloatRange(min=0, min_open=True, max=100_000),
    required=True,
    help="Requests per second to send, on schedule.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True, max=86_400),
    required=True,
    help="Seconds to send for.",
)
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(path_type=Path),
    default=None,
    help="JSONL of requests (default: the gold set's questions).",
)
@click.option("--model", default="lockgate", help="Model for requests that name none.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    help="Seconds one request may take before it counts as a timeout.",
)
@click.option(
    "--api-key",
    "target_key",
    envvar="LOCKGATE_LOADTEST_API_KEY",
    default=None,
    help="Bearer key sent to the deployment (default: $LOCKGATE_LOADTEST_API_KEY).",
)
@click.option(
    "--connections",
    type=click.IntRange(min=1, max=10_000),
    default=256,
    help="Most connections open at once (HTTP/1.1: one request in flight on each).",
)
@click.option("--no-store", is_flag=True, help="Do not keep the result.")
@json_flag
@click.pass_obj
def loadtest(
    obj: Ctx,
    url: str,
    rps: float,
    duration: float,
    scenario_path: Path | None,
    model: str,
    max_tokens: int | None,
    timeout: float,
    target_key: str | None,
    connections: int,
    no_store: bool,
    as_json: bool,
) -> None:
    """Send requests at a fixed arrival rate, streamed, and report throughput, latency, time
    to first token, errors by status, cost and the generator's own CPU use."""
    from lockgate.budget.projection import projected_peak_rps
    from lockgate.loadtest.client import Target
    from lockgate.loadtest.generator import drive
    from lockgate.loadtest.report import summarize, with_projection
    from lockgate.loadtest.scenario import ScenarioError, default_scenario, load_scenario
    from lockgate.store.loadtests import LoadtestRecord

    try:
        target = Target.parse(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
    try:
        scenario = (
            load_scenario(scenario_path, model, max_tokens)
            if scenario_path
            else default_scenario(model, max_tokens)
        )
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from None
    if round(rps * duration) > 1_000_000:
        raise click.BadParameter("more than 1,000,000 requests", param_hint="--rps/--duration")
    run = asyncio.run(drive(target, scenario, rps, duration, target_key, timeout, connections))
    report = summarize(run, url, scenario.name)
    if report.ok == 0 and report.errors.keys() <= {"connect"}:
        click.echo(f"lockgate: cannot reach the deployment at {url}", err=True)
        sys.exit(1)
    services = obj.services()
    with_projection(report, projected_peak_rps(services))
    data = report.as_dict()
    if not no_store:
        services.loadtests.add(LoadtestRecord.of_report(data))
    if as_json:
        dump(data)
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        return
    _print(data)
