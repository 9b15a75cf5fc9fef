"""`lockgate eval`: run a dataset through the pipeline and keep the experiment; list, show,
label and compare experiments; the regression gate for CI; cases from traces.

Exit status: 0 done (the gate passed), 1 the gate failed or a case/trace was not found,
2 bad arguments, an invalid dataset or an unknown experiment, 3 refused (no scope)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from lockgate.auth.scopes import EVAL_READ, EVAL_RUN
from lockgate.cli.authz import caller, group_view, is_operator, refuse, requires, tenant_view
from lockgate.cli.context import Ctx
from lockgate.cli.output import dump, json_flag, ts

if TYPE_CHECKING:
    from lockgate.engine.turn import Principal
    from lockgate.services import Services

BAD_ARGS = 2

_TENANT = click.option(
    "--tenant",
    default=None,
    help="The tenant's experiments (default: all for the host's operator; a key reads its "
    "own tenant's only).",
)
_REPORT = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a report (Markdown for .md, HTML for .html) to this file.",
)


def _fail(message: str, code: int = BAD_ARGS) -> NoReturn:
    click.echo(f"lockgate: {message}", err=True)
    sys.exit(code)


def _write_report(path: Path | None, experiment: dict[str, Any], comparison: Any) -> None:
    if path is None:
        return
    try:
        report = importlib.import_module("lockgate.eval.report")
    except ModuleNotFoundError as exc:
        if exc.name != "lockgate.eval.report":
            raise  # the module is there but broken: that must not pass for "not installed"
        # The report writer is optional: without it the run's results still stand.
        click.echo(
            "lockgate: warning: no report writer (lockgate.eval.report); --report skipped", err=True
        )
        return
    report.write_report(path, experiment, comparison)
    click.echo(f"report written to {path}", err=True)


@click.group("eval")
def eval_group() -> None:
    """Evaluation runs, comparisons and the regression gate."""


# -- run ----------------------------------------------------------------------------------


def _principal(obj: Ctx, tenant: str | None, groups: str | None, app: str | None) -> Principal:
    """Who the cases run as: a key runs as itself; the operator as the tenant and groups it
    names (default: tenant `default`, no groups), so it sees what such a caller sees."""
    who = caller(obj)
    if not is_operator(who):
        if groups is not None:
            _fail("--groups is for the host's operator; a key runs with its own groups")
        if app and app not in who.apps and not obj.settings.auth.trust_client_app:
            # Every case would be refused the same way: say it once, before any runs.
            refuse(
                f"key {who.key_id} may not run as app '{app}' (its apps: "
                f"{', '.join(who.apps) or 'none'})"
            )
        view = tenant_view(obj, tenant)
        return dataclasses.replace(who, tenant=view or who.tenant)
    from lockgate.engine.turn import Principal

    return Principal(
        id="eval",
        tenant=tenant or "default",
        roles=who.roles,
        groups=tuple(g.strip() for g in (groups or "").split(",") if g.strip()),
        apps=(app,) if app else (),
    )


def _services_for(obj: Ctx, model: str | None) -> Services:
    if model is None:
        return obj.services()
    settings = obj.settings
    if model not in settings.models:
        _fail(f"--model: unknown model '{model}' (known: {', '.join(sorted(settings.models))})")
    from lockgate.services import Services

    grounded = settings.grounded.model_copy(update={"model": model})
    return Services(settings.model_copy(update={"grounded": grounded}))


@requires(EVAL_RUN)
@eval_group.command("run")
@click.argument("dataset", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--app", default=None, help="Run as this app (its guardrail policy).")
@click.option("--prompt", default=None, help="A registry prompt to answer with: NAME@LABEL.")
@click.option(
    "--model", default=None, help="The grounded assistant's model (default: grounded.model)."
)
@click.option("--judge", default=None, help="Also score faithfulness with this model.")
@click.option(
    "--judge-prompt",
    default="faithfulness_judge@production",
    show_default=True,
    help="The registry prompt the judge uses: NAME@LABEL or NAME@N.",
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--name", default=None, help="The experiment's name (default: dataset-time).")
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="The cut-off of hit@k, recall@k and nDCG@k.",
)
@click.option("--tenant", default=None, help="Run as this tenant (the operator only).")
@click.option(
    "--groups", default=None, help="Run with these groups, comma-separated (the operator only)."
)
@_REPORT
@json_flag
@click.pass_obj
def eval_run(
    obj: Ctx,
    dataset: Path,
    app: str | None,
    prompt: str | None,
    model: str | None,
    judge: str | None,
    judge_prompt: str,
    concurrency: int,
    name: str | None,
    k: int,
    tenant: str | None,
    groups: str | None,
    report_path: Path | None,
    as_json: bool,
) -> None:
    """Send every case of DATASET (JSON Lines) through the pipeline and store the experiment."""
    from lockgate.eval.dataset import DatasetError, dataset_hash, load_cases
    from lockgate.eval.runner import EvalRunner, RunOptions
    from lockgate.store.prompts import PromptNotFound

    try:
        cases = load_cases(dataset)
    except DatasetError as exc:
        _fail(f"{dataset}: {exc}")
    if judge is not None and judge not in obj.settings.models:
        _fail(f"--judge: unknown model '{judge}' (known: {', '.join(sorted(obj.settings.models))})")
    if prompt is not None and "@" not in prompt:
        _fail(f"--prompt: '{prompt}' is not NAME@LABEL")
    principal = _principal(obj, tenant, groups, app)
    services = _services_for(obj, model)
    options = RunOptions(name, app, prompt, model, judge, judge_prompt, concurrency, k)
    try:
        runner = EvalRunner(services, principal, options)
    except (PromptNotFound, ValueError) as exc:
        _fail(f"--judge-prompt: {exc}")
    records = _run_with_progress(runner, cases, services)
    experiment = runner.experiment(cases, records, dataset, dataset_hash(dataset))
    experiment["id"] = services.experiments.add(experiment, principal.tenant, principal.id)
    from lockgate.observability.events import ExperimentRecorded

    services.emit(
        [
            ExperimentRecorded(
                "",
                caller(obj).id,
                principal.tenant,
                experiment["id"],
                experiment["dataset_hash"],
                len(cases),
                experiment["pass_rate"],
            )
        ]
    )
    _write_report(report_path, experiment, None)
    if as_json:
        dump(
            {
                "experiment": experiment["id"],
                "name": experiment["name"],
                "pass_rate": experiment["pass_rate"],
                "metrics": experiment["metrics"],
                "cases": experiment["cases"],
            }
        )
        return
    _print_summary(experiment)


def _run_with_progress(
    runner: Any, cases: list[Any], services: Services
) -> list[dict[str, Any]]:
    async def run(on_case: Any) -> list[dict[str, Any]]:
        try:
            return list(await runner.run(cases, on_case))
        finally:
            # Upstream connections belong to this loop: closed here, or left open at exit.
            await services.models.aclose()

    if not sys.stderr.isatty():
        return asyncio.run(run(None))
    with click.progressbar(length=len(cases), label="evaluating", file=sys.stderr) as bar:
        return asyncio.run(run(lambda _record: bar.update(1)))


_SHOWN = (
    "hit_at_k",
    "recall_at_k",
    "mrr",
    "ndcg_at_k",
    "contains",
    "token_f1",
    "rouge_l",
    "bleu",
    "corpus_bleu",
    "similarity",
    "faithfulness",
    "judge_faithfulness",
    "judge_agreement",
    "judge_pearson_r",
    "refusal_correct",
    "guardrail_ok",
    "citations_valid",
    "latency_ms",
    "latency_ms_p95",
    "ttft_ms",
    "cost_usd",
    "errors",
)


def _print_summary(exp: dict[str, Any]) -> None:
    cases = exp["cases"]
    passed = sum(1 for c in cases if c["passed"])
    click.echo(f"experiment {exp['id']}  {exp['name']}  ({ts(exp['created_at'])})")
    click.echo(f"pass rate {exp['pass_rate']:.1%}  ({passed}/{len(cases)})")
    for name in _SHOWN:
        if name in exp["metrics"]:
            click.echo(f"  {name:<20} {exp['metrics'][name]:.4g}")
    failed = [c for c in cases if not c["passed"]]
    for c in failed:
        why = c.get("error") or "; ".join(
            f"{a['assert']} ({a['detail']})" for a in c["assertions"] if not a["passed"]
        )
        click.echo(f"  FAIL {c['id']}: {why}")


# -- list, show, label --------------------------------------------------------------------


@requires(EVAL_READ)
@eval_group.command("list")
@click.option("-n", "limit", type=click.IntRange(1, 10000), default=20)
@_TENANT
@json_flag
@click.pass_obj
def eval_list(obj: Ctx, limit: int, tenant: str | None, as_json: bool) -> None:
    """Experiments, newest first."""
    rows = obj.services().experiments.list(tenant_view(obj, tenant), limit)
    if as_json:
        dump(rows)
        return
    for r in rows:
        labels = f"  [{', '.join(r['labels'])}]" if r["labels"] else ""
        click.echo(
            f"{r['id']}  {ts(r['created_at'])}  {r['tenant']:<10} {r['name']:<28} "
            f"{r['case_count']:>5} cases  pass {r['pass_rate']:.1%}{labels}"
        )


def _load(obj: Ctx, ref: str, tenant: str | None) -> dict[str, Any]:
    view = tenant_view(obj, tenant)
    store = obj.services().experiments
    exp_id = store.resolve(ref, view)
    found = store.get(exp_id, view) if exp_id is not None else None
    if found is None:
        _fail(f"no experiment or label '{ref}'")
    return found


@requires(EVAL_READ)
@eval_group.command("show")
@click.argument("ref", metavar="EXPERIMENT|LABEL")
@_TENANT
@json_flag
@click.pass_obj
def eval_show(obj: Ctx, ref: str, tenant: str | None, as_json: bool) -> None:
    """One experiment with its cases."""
    exp = _load(obj, ref, tenant)
    if as_json:
        dump(exp)
        return
    _print_summary(exp)
    click.echo(f"  dataset {exp['dataset']} (sha256 {exp['dataset_hash'][:12]})")
    click.echo(f"  options {exp['options']}")
    if exp["labels"]:
        click.echo(f"  labels  {', '.join(exp['labels'])}")


@requires(EVAL_RUN)
@eval_group.command("label")
@click.argument("ref", metavar="EXPERIMENT|LABEL")
@click.argument("name")
@_TENANT
@click.pass_obj
def eval_label(obj: Ctx, ref: str, name: str, tenant: str | None) -> None:
    """Name an experiment (a gate's baseline); the label moves if it named another."""
    from lockgate.observability.events import ExperimentLabelled

    exp = _load(obj, ref, tenant)
    services = obj.services()
    try:
        services.experiments.label(exp["id"], name, tenant_view(obj, tenant))
    except ValueError as exc:
        _fail(str(exc))
    services.emit([ExperimentLabelled("", caller(obj).id, exp["tenant"], exp["id"], name)])
    click.echo(f"{name} -> {exp['id']}")


# -- compare and gate ---------------------------------------------------------------------


def _print_comparison(cmp: dict[str, Any]) -> None:
    rate = cmp["pass_rate"]
    click.echo(f"baseline  {cmp['baseline']}  pass {rate['baseline']:.1%}")
    click.echo(
        f"candidate {cmp['candidate']}  pass {rate['candidate']:.1%}  ({rate['delta']:+.1%})"
    )
    for name in _SHOWN:
        entry = cmp["metrics"].get(name)
        if entry and entry.get("delta") is not None:
            click.echo(
                f"  {name:<20} {entry['baseline']:.4g} -> {entry['candidate']:.4g} "
                f"({entry['delta']:+.4g})"
            )
    for case_id in cmp["regressed"]:
        click.echo(f"  REGRESSED {case_id}")
    for case_id in cmp["fixed"]:
        click.echo(f"  fixed     {case_id}")
    for key, what in (("only_baseline", "baseline only"), ("only_candidate", "candidate only")):
        if cmp[key]:
            click.echo(f"  {what}: {', '.join(cmp[key])}")


@requires(EVAL_READ)
@eval_group.command("compare")
@click.argument("baseline", metavar="A")
@click.argument("candidate", metavar="B")
@_TENANT
@_REPORT
@json_flag
@click.pass_obj
def eval_compare(
    obj: Ctx,
    baseline: str,
    candidate: str,
    tenant: str | None,
    report_path: Path | None,
    as_json: bool,
) -> None:
    """Per-case differences of experiment B against A (status changes, metric deltas)."""
    from lockgate.eval.compare import compare

    base, cand = _load(obj, baseline, tenant), _load(obj, candidate, tenant)
    cmp = compare(base, cand)
    _write_report(report_path, cand, cmp)
    if as_json:
        dump(cmp)
        return
    _print_comparison(cmp)


@requires(EVAL_READ)
@eval_group.command("gate")
@click.option("--baseline", required=True, metavar="EXPERIMENT|LABEL")
@click.option(
    "--candidate",
    default=None,
    metavar="EXPERIMENT|LABEL",
    help="Default: the latest experiment (which must not be the baseline).",
)
@click.option(
    "--max-drop",
    default="1%",
    show_default=True,
    help="How much worse may pass against: 1% or 0.01.",
)
@click.option("--metric", "metrics", multiple=True, help="Also watch this metric (repeatable).")
@_TENANT
@_REPORT
@json_flag
@click.pass_obj
def eval_gate(
    obj: Ctx,
    baseline: str,
    candidate: str | None,
    max_drop: str,
    metrics: tuple[str, ...],
    tenant: str | None,
    report_path: Path | None,
    as_json: bool,
) -> None:
    """Exit 1 when the candidate's pass rate (or a --metric) dropped past --max-drop."""
    from lockgate.eval.compare import compare, gate, parse_threshold

    try:
        threshold = parse_threshold(max_drop)
    except ValueError as exc:
        _fail(f"--max-drop: {exc}")
    base = _load(obj, baseline, tenant)
    if candidate is None:
        latest = obj.services().experiments.latest(tenant_view(obj, tenant))
        if latest is None or latest == base["id"]:
            # Comparing the baseline with itself would pass without testing anything.
            _fail(
                "no candidate: the latest experiment is the baseline itself; run one, or "
                "name it with --candidate"
            )
        candidate = latest
    cand = _load(obj, candidate, tenant)
    known = set(base["metrics"]) | set(cand["metrics"])
    unknown = [m for m in metrics if m not in known]
    if unknown:
        _fail(f"--metric: unknown metric {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    cmp = compare(base, cand)
    verdict = gate(cmp, threshold, metrics)
    _announce_gate(obj, base, cand, threshold, verdict)
    _write_report(report_path, cand, cmp)
    if as_json:
        dump({**verdict, "comparison": cmp})
    else:
        _print_comparison(cmp)
        for why in verdict["failures"]:
            click.echo(f"GATE FAILED: {why}")
        if verdict["failures"] and verdict["regressed"]:
            click.echo(f"regressed cases: {', '.join(verdict['regressed'])}")
        if verdict["passed"]:
            click.echo(f"gate passed (max drop {threshold:.2%})")
    sys.exit(0 if verdict["passed"] else 1)


def _announce_gate(
    obj: Ctx, base: dict[str, Any], cand: dict[str, Any], threshold: float, verdict: dict[str, Any]
) -> None:
    """The verdict as an audited event: a failure can alert someone, and the readiness report
    reads the last gate from the audit log."""
    from lockgate.observability.events import EvalGateFailed, EvalGatePassed

    who, services = caller(obj), obj.services()
    tenant = str(cand.get("tenant") or who.tenant)
    event: EvalGateFailed | EvalGatePassed
    if verdict["passed"]:
        event = EvalGatePassed("", who.id, tenant, base["id"], cand["id"], threshold)
    else:
        failures = tuple(verdict["failures"])
        event = EvalGateFailed("", who.id, tenant, base["id"], cand["id"], threshold, failures)
    services.emit([event])
    # The process ends right after: let an alert for the failure go out first.
    if "alerts" in vars(services):
        services.alerts.flush()


# -- cases from traces --------------------------------------------------------------------


@requires(EVAL_RUN)
@eval_group.command("add")
@click.option("--from-trace", "trace_id", required=True, help="The trace to make a case of.")
@click.option(
    "--dataset",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append the case to this JSONL file (default: print it).",
)
@click.option("--tenant", default=None, help="The trace's tenant (the operator only).")
@click.pass_obj
def eval_add(obj: Ctx, trace_id: str, dataset: Path | None, tenant: str | None) -> None:
    """A candidate case from a trace: its question, cited sources and any correction."""
    from lockgate.eval.dataset import DatasetError, load_cases
    from lockgate.eval.from_trace import case_from_trace

    services = obj.services()
    view = tenant_view(obj, tenant)
    trace = services.traces.get(trace_id, view, group_view(obj))
    if trace is None:
        _fail(f"no trace {trace_id}", 1)
    owner = str(trace.get("tenant") or "default")
    corrections = [c for c in services.review_store.corrections(owner) if c.trace_id == trace_id]
    feedback = [f for f in services.feedback.find(owner, limit=100_000) if f.trace_id == trace_id]
    try:
        line = case_from_trace(trace, corrections, feedback)
    except ValueError as exc:
        _fail(str(exc), 1)
    if dataset is None:
        click.echo(line.as_json())
        return
    if dataset.exists() and dataset.stat().st_size:
        try:
            existing = {c.id for c in load_cases(dataset)}
        except DatasetError as exc:
            _fail(f"{dataset}: {exc}")
        if line.id in existing:
            _fail(f"{dataset} already has a case '{line.id}'")
        needs_newline = not dataset.read_bytes().endswith(b"\n")
    else:
        needs_newline = False
    with dataset.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if needs_newline else "") + line.as_json() + "\n")
    click.echo(f"added case {line.id} to {dataset} (tags: {', '.join(line.tags)})")
