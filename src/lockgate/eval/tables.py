"""Experiment and comparison records turned into the rows both report formats show."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def fmt(value: Any, pct: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a" if value is None else str(value)
    if pct:
        return f"{value * 100:.1f}%"
    return f"{value:.4g}"


def aggregate_rows(experiment: Mapping[str, Any]) -> list[list[str]]:
    metrics = experiment.get("metrics") or {}
    return [[str(name), fmt(value)] for name, value in sorted(metrics.items())]


def case_metric_values(cases: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Per metric, the values of the cases that have one (a case with no expected sources has
    no retrieval metrics, and counting it as zero would drag the distribution down)."""
    values: dict[str, list[float]] = {}
    for case in cases:
        for name, value in (case.get("metrics") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(str(name), []).append(float(value))
    return dict(sorted(values.items()))


def tag_breakdown(cases: Sequence[Mapping[str, Any]]) -> list[tuple[str, int, int]]:
    """(tag, cases, passed) for every tag, most common first."""
    seen: dict[str, list[int]] = {}
    for case in cases:
        for tag in case.get("tags") or ():
            counts = seen.setdefault(str(tag), [0, 0])
            counts[0] += 1
            counts[1] += 1 if case.get("passed") else 0
    return sorted(((t, n, p) for t, (n, p) in seen.items()), key=lambda r: (-r[1], r[0]))


def failed_cases(cases: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for case in cases:
        if case.get("passed"):
            continue
        failed = [
            f"{a.get('assert')}: {a.get('detail')}" if a.get("detail") else str(a.get("assert"))
            for a in case.get("assertions") or ()
            if not a.get("passed")
        ]
        if case.get("error"):
            failed.append(f"error: {case['error']}")
        rows.append([str(case.get("id")), ", ".join(case.get("tags") or ()), "; ".join(failed)])
    return rows


def comparison_rows(comparison: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    pr = comparison.get("pass_rate") or {}
    if pr:
        rows.append(
            [
                "pass_rate",
                fmt(pr.get("baseline"), pct=True),
                fmt(pr.get("candidate"), pct=True),
                _signed(pr.get("delta"), pct=True),
            ]
        )
    for name, m in sorted((comparison.get("metrics") or {}).items()):
        if not isinstance(m, Mapping):
            continue
        rows.append(
            [str(name), fmt(m.get("baseline")), fmt(m.get("candidate")), _signed(m.get("delta"))]
        )
    return rows


def _signed(value: Any, pct: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    text = fmt(abs(value), pct=pct)
    return ("+" if value >= 0 else "-") + text
