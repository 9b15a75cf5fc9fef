"""An experiment (and, optionally, its comparison with a baseline) as a report a reviewer reads:
Markdown for a pull-request comment, or one self-contained HTML page with charts. The HTML
page loads nothing from anywhere, so it can be attached to a CI run and opened offline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lockgate.eval.charts import bar_chart, histogram
from lockgate.eval.tables import (
    aggregate_rows,
    case_metric_values,
    comparison_rows,
    failed_cases,
    fmt,
    tag_breakdown,
)

Experiment = Mapping[str, Any]
Comparison = Mapping[str, Any]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        # A pipe or newline inside a cell would end the cell (or the table) early.
        return text.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def markdown(experiment: Experiment, comparison: Comparison | None = None) -> str:
    cases = experiment.get("cases") or []
    lines = [
        f"# Evaluation `{experiment.get('name') or experiment.get('id')}`",
        "",
        f"- experiment: `{experiment.get('id')}`",
        f"- dataset: `{experiment.get('dataset', '')}` ({len(cases)} cases)",
        f"- pass rate: **{fmt(experiment.get('pass_rate'), pct=True)}**",
    ]
    options = {k: v for k, v in (experiment.get("options") or {}).items() if v}
    if options:
        lines.append("- options: " + ", ".join(f"{k}=`{v}`" for k, v in sorted(options.items())))
    lines += ["", "## Metrics", ""]
    lines += _md_table(["metric", "mean"], aggregate_rows(experiment))
    tags = tag_breakdown(cases)
    if tags:
        lines += ["", "## By tag", ""]
        lines += _md_table(
            ["tag", "cases", "passed", "pass rate"],
            [[t, str(n), str(p), fmt(p / n, pct=True)] for t, n, p in tags],
        )
    if comparison is not None:
        lines += ["", _md_comparison_heading(comparison), ""]
        rows = comparison_rows(comparison)
        lines += _md_table(["metric", "baseline", "candidate", "delta"], rows)
        regressed = comparison.get("regressed") or []
        fixed = comparison.get("fixed") or []
        lines += ["", f"**Regressed ({len(regressed)})**: " + _id_list(regressed)]
        lines += ["", f"**Fixed ({len(fixed)})**: " + _id_list(fixed)]
    failures = failed_cases(cases)
    if failures:
        lines += ["", f"## Failing cases ({len(failures)})", ""]
        lines += _md_table(["case", "tags", "failed assertions"], failures)
    return "\n".join(lines) + "\n"


def _md_comparison_heading(comparison: Comparison) -> str:
    return (
        f"## Against baseline `{comparison.get('baseline')}` "
        f"(candidate `{comparison.get('candidate')}`)"
    )


def _id_list(ids: Sequence[str]) -> str:
    return ", ".join(f"`{i}`" for i in ids) if ids else "none"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2430;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
td,th{border:1px solid #dde;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f5f9}.pass{color:#17803d}.fail{color:#b42318}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #eef;padding:.4rem}
.chart h3{font-size:.85rem;margin:.2rem 0}svg text{font-size:10px;fill:#445}
.big{font-size:1.6rem;font-weight:600}
"""


def _esc(value: Any) -> str:
    text = "" if value is None else str(value)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _esc(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html(experiment: Experiment, comparison: Comparison | None = None) -> str:
    cases = experiment.get("cases") or []
    title = f"Evaluation {experiment.get('name') or experiment.get('id')}"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        # Nothing may load from elsewhere: the page is opened from a CI artifact, offline.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f"<p>experiment <code>{_esc(experiment.get('id'))}</code> · dataset "
        f"<code>{_esc(experiment.get('dataset', ''))}</code> · {len(cases)} cases</p>",
        f"<p>pass rate <span class='big' id='pass-rate'>"
        f"{_esc(fmt(experiment.get('pass_rate'), pct=True))}</span></p>",
        "<h2>Metrics</h2>",
        _html_table(["metric", "mean"], aggregate_rows(experiment)),
        "<h2>Metric distributions</h2><div class='charts' id='distributions'>",
    ]
    for name, values in case_metric_values(cases).items():
        parts.append(f"<div class='chart'><h3>{_esc(name)}</h3>{histogram(values)}</div>")
    parts.append("</div>")
    tags = tag_breakdown(cases)
    if tags:
        parts += [
            "<h2>By tag</h2><div class='charts' id='tags'><div class='chart'>",
            bar_chart([(t, p / n) for t, n, p in tags], maximum=1.0, percent=True),
            "</div></div>",
            _html_table(
                ["tag", "cases", "passed", "pass rate"],
                [[t, str(n), str(p), fmt(p / n, pct=True)] for t, n, p in tags],
            ),
        ]
    if comparison is not None:
        parts.append(f"<h2 id='comparison'>{_esc(_md_comparison_heading(comparison)[3:])}</h2>")
        parts.append(
            _html_table(["metric", "baseline", "candidate", "delta"], comparison_rows(comparison))
        )
        deltas = [
            (name, float(m["delta"]))
            for name, m in (comparison.get("metrics") or {}).items()
            if isinstance(m, Mapping) and isinstance(m.get("delta"), int | float)
        ]
        if deltas:
            parts.append("<div class='chart'><h3>metric deltas</h3>")
            parts.append(bar_chart(deltas, signed=True))
            parts.append("</div>")
        regressed = comparison.get("regressed") or []
        fixed = comparison.get("fixed") or []
        parts.append(f"<h2 id='regressions'>Regressions ({len(regressed)})</h2>")
        parts.append(_case_list(regressed, cases))
        parts.append(f"<h2>Fixed ({len(fixed)})</h2>")
        parts.append(_case_list(fixed, cases))
    failures = failed_cases(cases)
    parts.append(f"<h2>Failing cases ({len(failures)})</h2>")
    if failures:
        parts.append(_html_table(["case", "tags", "failed assertions"], failures))
    parts.append("<h2>All cases</h2>")
    parts.append(_html_table(["case", "result", "answer"], _all_cases(cases), raw=True))
    parts.append("</body></html>")
    return "".join(parts)


def _case_list(ids: Sequence[str], cases: Sequence[Mapping[str, Any]]) -> str:
    if not ids:
        return "<p>none</p>"
    by_id = {str(c.get("id")): c for c in cases}
    rows = []
    for case_id in ids:
        case = by_id.get(str(case_id), {})
        rows.append([str(case_id), str(case.get("answer") or case.get("error") or "")[:300]])
    return _html_table(["case", "candidate answer"], rows)


def _all_cases(cases: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for case in cases:
        passed = bool(case.get("passed"))
        cls, word = ("pass", "pass") if passed else ("fail", "FAIL")
        badge = f"<span class='{cls}'>{word}</span>"
        answer = str(case.get("answer") or case.get("error") or "")[:400]
        rows.append([_esc(case.get("id")), badge, _esc(answer)])
    return rows


def write_report(path: str | Path, experiment: Experiment, comparison: Comparison | None) -> Path:
    """Markdown for `.md` (and any other suffix), the HTML page for `.html`/`.htm`."""
    target = Path(path)
    is_html = target.suffix.lower() in (".html", ".htm")
    text = html(experiment, comparison) if is_html else markdown(experiment, comparison)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
