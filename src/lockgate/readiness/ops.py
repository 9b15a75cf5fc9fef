"""Operations: the evaluation set and its last gate, monitoring and alerting, rollback
criteria, the load test at a multiple of the projected load."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from lockgate.readiness.model import Context, Item

GATE_EVENTS = ("eval.gate_passed", "eval.gate_failed")
# The rules a production deployment should page on, by kind.
MONITORED = ("error_rate", "p95_latency_ms", "breaker_open")


def eval_set(ctx: Context) -> Item:
    title = "Evaluation set large enough to gate changes"
    want = ctx.settings.readiness.min_eval_cases
    found = ctx.services.experiments.list(None, limit=1)
    if not found:
        return Item("eval_set", title, "fail", "no evaluation run recorded",
                    f"build a dataset of at least {want} cases and run lockgate eval run "
                    "--dataset FILE")
    latest = found[0]
    cases = int(latest["case_count"])
    evidence = (f"latest experiment {latest['id']} ({latest['dataset']}): {cases} cases, "
                f"pass rate {float(latest['pass_rate']):.1%}")
    if cases < want:
        return Item("eval_set", title, "warn", evidence + f", fewer than {want}",
                    f"grow the dataset to {want}+ cases (lockgate eval add --from-trace)")
    return Item("eval_set", title, "pass", evidence)


def eval_gate(ctx: Context) -> Item:
    title = "Last evaluation gate passed"
    found = ctx.services.audit.entries(kinds=list(GATE_EVENTS), limit=1, newest_first=True)
    if not found:
        return Item("eval_gate", title, "fail", "no gate result in the audit log",
                    "run lockgate eval gate --baseline LABEL in CI on every change "
                    "(examples/github-actions/eval-gate.yml)")
    last = found[0]
    data = last.get("data") or {}
    at = float(last.get("created_at") or 0)
    age = (time.time() - at) / 86400
    evidence = (f"{last['kind']} {age:.1f} days ago: candidate {data.get('candidate')} against "
                f"baseline {data.get('baseline')}, max drop {data.get('max_drop')}")
    if last["kind"] == "eval.gate_failed":
        failures = "; ".join(data.get("failures") or [])
        return Item("eval_gate", title, "fail", f"{evidence}: {failures}",
                    "fix the regression (lockgate eval compare shows the regressed cases) "
                    "and run the gate again")
    if age > ctx.settings.readiness.max_gate_age_days:
        return Item("eval_gate", title, "warn", evidence,
                    "run the gate against the current configuration")
    return Item("eval_gate", title, "pass", evidence)


def monitoring(ctx: Context) -> Item:
    title = "Monitoring and alerting reach someone"
    cfg = ctx.settings.alerts
    if not cfg.enabled or not cfg.rules:
        return Item("monitoring_alerting", title, "fail", "no alert rules (alerts.rules)",
                    "add alerts.rules for error_rate, p95_latency_ms and breaker_open and an "
                    "alerts.webhooks entry (docs/alerts.md)")
    if not cfg.webhooks:
        return Item("monitoring_alerting", title, "fail",
                    f"{len(cfg.rules)} alert rules but no webhook: alerts reach nobody",
                    "add an alerts.webhooks entry (a Slack incoming webhook, url_env)")
    unset = [w.name for w in cfg.webhooks if w.target() is None]
    kinds = cfg.kinds()
    missing = [k for k in MONITORED if k not in kinds]
    evidence = (f"{len(cfg.rules)} rules ({', '.join(sorted(kinds))}) to "
                f"{', '.join(w.name for w in cfg.webhooks)}; drift checks "
                f"{'on' if ctx.settings.drift.enabled else 'off'}; metrics at /metrics")
    if unset:
        return Item("monitoring_alerting", title, "fail",
                    f"{evidence}; webhook {', '.join(unset)} has no URL in this environment",
                    "set the variables named by alerts.webhooks[].url_env")
    if missing:
        return Item("monitoring_alerting", title, "warn",
                    f"{evidence}; no {', '.join(missing)} rule",
                    f"add alerts.rules of kind {', '.join(missing)}")
    return Item("monitoring_alerting", title, "pass", evidence)


def rollback(ctx: Context) -> Item:
    title = "Rollback procedure and criteria"
    cfg = ctx.settings.releases
    if not cfg.enabled:
        return Item("rollback", title, "fail", "releases.enabled is false: no staged rollout "
                    "and no rollback", "set releases.enabled: true (docs/releases.md)")
    b = cfg.bounds
    criteria = (f"window {cfg.window_s:g}s, error rate +{b.error_rate_increase:g}, negative "
                f"feedback +{b.negative_feedback_increase:g}, groundedness -{b.groundedness_drop:g}"
                f", cost x{b.cost_ratio:g}, p95 x{b.p95_latency_ratio:g}")
    current, _rollout = ctx.services.releases.active()
    if not cfg.auto_rollback or cfg.check_interval_s <= 0:
        return Item("rollback", title, "warn", f"criteria {criteria}; automatic rollback off",
                    "set releases.auto_rollback: true and releases.check_interval_s > 0, or "
                    "document who runs lockgate release rollback and when")
    if current is None:
        return Item("rollback", title, "warn", f"criteria {criteria}; no current release "
                    "recorded to roll back to",
                    "create a release of the known-good bundle and make it current (lockgate "
                    "release create NAME, then lockgate release promote NAME --full)")
    return Item("rollback", title, "pass",
                f"automatic rollback to {current.name} on: {criteria}")


def _latest_loadtest(ctx: Context) -> tuple[dict[str, Any] | None, str]:
    """The newest load-test result and where it came from: the load-test store when this
    build has one, else the JSON file `readiness.loadtest_result` names."""
    store = getattr(ctx.services, "loadtests", None)
    if store is not None:
        latest = store.latest()
        if latest is not None:
            data = latest if isinstance(latest, dict) else getattr(latest, "__dict__", {})
            return dict(data), "the load-test store"
    path = ctx.settings.readiness.loadtest_result
    if path is None:
        return None, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{path} (missing)"
    except (OSError, ValueError) as exc:
        return None, f"{path} (unreadable: {exc})"
    return (data if isinstance(data, dict) else None), str(path)


def _number(data: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)):
            return float(value)
    return None


def load_test(ctx: Context) -> Item:
    title = "Load test at 3x the projected load"
    cfg = ctx.settings.readiness
    factor = cfg.load_factor
    title = f"Load test at {factor:g}x the projected load"
    if cfg.projected_rps is None:
        return Item("load_test", title, "fail", "no projected load (readiness.projected_rps)",
                    "set readiness.projected_rps to the expected peak requests per second")
    need = cfg.projected_rps * factor
    data, source = _latest_loadtest(ctx)
    if data is None:
        where = f" ({source})" if source else ""
        return Item("load_test", title, "fail", f"no load test recorded{where}",
                    f"run lockgate loadtest --rps {need:g} --duration 600 --json against a "
                    "staging deployment and keep the result (readiness.loadtest_result)")
    # `lockgate loadtest` stores `rps_achieved`; a result file from another tool may use
    # one of the other common names.
    rps = _number(data, "rps_achieved", "achieved_rps", "throughput_rps", "throughput", "rps")
    errors = _number(data, "error_rate")
    evidence = (f"{source}: {rps if rps is not None else '?'} req/s achieved, error rate "
                f"{errors if errors is not None else '?'}; needed {need:g} req/s "
                f"({factor:g} x {cfg.projected_rps:g})")
    when = data.get("finished_at") or data.get("created_at")
    if isinstance(when, (int, float)):
        when = datetime.fromtimestamp(when).isoformat(timespec="seconds")
    if when:
        evidence += f", run {when}"
    if rps is None or rps < need:
        return Item("load_test", title, "fail", evidence,
                    f"find the bottleneck and run the load test again at {need:g} req/s")
    if errors is None or errors > cfg.loadtest_max_error_rate:
        return Item("load_test", title, "fail", evidence + f", above the allowed "
                    f"{cfg.loadtest_max_error_rate:g}",
                    "fix the errors under load (lockgate traces list --status error)")
    return Item("load_test", title, "pass", evidence)
