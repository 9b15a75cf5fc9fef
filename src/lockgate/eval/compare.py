"""Two experiments side by side, and the gate on top of that comparison. Pure functions over
experiment records (the `store/experiments.py` shape).

`compare` pairs cases by id: `regressed` passed in the baseline and fail in the candidate,
`fixed` the other way round; cases only one side has are listed under `only_baseline` /
`only_candidate` and count for neither.

`gate` fails when the pass rate, or a metric it is asked to watch, got worse by more than
`max_drop`. For scores (rates and similarities between 0 and 1) "worse" is an absolute drop:
0.01 is one percentage point. For costs and latencies (`LOWER_IS_BETTER`) it is a relative
rise: 0.01 is 1 % over the baseline's value."""

from __future__ import annotations

from typing import Any

from lockgate.eval.scoring import LOWER_IS_BETTER

__all__ = ["compare", "gate", "parse_threshold", "worsening"]


def parse_threshold(text: str) -> float:
    """`1%` or `0.01` -> 0.01. ValueError for anything else, or outside [0, 1]."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"'{text}' is not a threshold (write 1% or 0.01)") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"threshold {text} is outside 0..1 (0%..100%)")
    return value


def worsening(name: str, baseline: float, candidate: float) -> float:
    """How much worse the candidate is (positive) or better (negative), in the gate's units."""
    if name in LOWER_IS_BETTER:
        if baseline == 0:
            return 0.0 if candidate == 0 else float("inf")
        return (candidate - baseline) / baseline
    return baseline - candidate


def _deltas(base: dict[str, Any], cand: dict[str, Any]) -> dict[str, float]:
    bm, cm = base.get("metrics") or {}, cand.get("metrics") or {}
    out = {name: cm[name] - bm[name] for name in sorted(set(bm) & set(cm))}
    for key in ("latency_ms", "cost_usd"):
        if base.get(key) is not None and cand.get(key) is not None:
            out[key] = cand[key] - base[key]
    return out


def compare(baseline: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    base_cases = {c["id"]: c for c in baseline["cases"]}
    cand_cases = {c["id"]: c for c in candidate["cases"]}
    cases = []
    regressed, fixed = [], []
    for case_id, base in base_cases.items():
        cand = cand_cases.get(case_id)
        if cand is None:
            continue
        b, c = bool(base["passed"]), bool(cand["passed"])
        if b and not c:
            regressed.append(case_id)
        elif c and not b:
            fixed.append(case_id)
        cases.append(
            {
                "id": case_id,
                "baseline_passed": b,
                "candidate_passed": c,
                "deltas": _deltas(base, cand),
            }
        )
    metrics = {}
    bm, cm = baseline.get("metrics") or {}, candidate.get("metrics") or {}
    for name in sorted(set(bm) | set(cm)):
        b_val, c_val = bm.get(name), cm.get(name)
        entry: dict[str, Any] = {"baseline": b_val, "candidate": c_val, "delta": None}
        if b_val is not None and c_val is not None:
            entry["delta"] = c_val - b_val
            entry["worse_by"] = worsening(name, b_val, c_val)
        metrics[name] = entry
    b_rate, c_rate = float(baseline["pass_rate"]), float(candidate["pass_rate"])
    return {
        "baseline": baseline["id"],
        "candidate": candidate["id"],
        "pass_rate": {"baseline": b_rate, "candidate": c_rate, "delta": c_rate - b_rate},
        "metrics": metrics,
        "regressed": regressed,
        "fixed": fixed,
        "only_baseline": [i for i in base_cases if i not in cand_cases],
        "only_candidate": [i for i in cand_cases if i not in base_cases],
        "cases": cases,
    }


def gate(
    comparison: dict[str, Any], max_drop: float, watch: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """{"passed": bool, "failures": [why, ...], "regressed": [...]} for a comparison. A
    watched metric that one side lacks fails the gate: it cannot be shown not to drop."""
    failures = []
    rate = comparison["pass_rate"]
    drop = rate["baseline"] - rate["candidate"]
    if drop > max_drop + 1e-12:
        failures.append(
            f"pass rate dropped {drop:.2%} ({rate['baseline']:.2%} -> {rate['candidate']:.2%}), "
            f"more than {max_drop:.2%}"
        )
    for name in watch:
        entry = comparison["metrics"].get(name)
        if entry is None or entry.get("worse_by") is None:
            failures.append(f"metric '{name}' is not in both experiments")
            continue
        worse = entry["worse_by"]
        if worse > max_drop + 1e-12:
            how = "rose" if name in LOWER_IS_BETTER else "dropped"
            amount = f"{worse:.2%}" + (" (relative)" if name in LOWER_IS_BETTER else "")
            failures.append(
                f"{name} {how} {amount} ({entry['baseline']:.4g} -> {entry['candidate']:.4g}), "
                f"more than {max_drop:.2%}"
            )
    return {
        "passed": not failures,
        "failures": failures,
        "regressed": list(comparison["regressed"]),
        "max_drop": max_drop,
        "metrics": list(watch),
    }
