from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from lockgate.eval.report import html, markdown, write_report


def _case(cid: str, passed: bool, tags: list[str], f1: float, answer: str = "ok") -> dict[str, Any]:
    return {
        "id": cid,
        "tags": tags,
        "passed": passed,
        "metrics": {"token_f1": f1, "latency_ms": 100 + f1 * 10},
        "assertions": [
            {"assert": "contains: 30 days", "passed": passed, "detail": "" if passed else "missing"}
        ],
        "input": "q",
        "answer": answer,
        "refused": False,
        "citations": [],
        "sources": [],
        "latency_ms": 120.0,
        "ttft_ms": 40.0,
        "cost_usd": 0.0,
        "trace_id": "t" + cid,
        "error": None,
    }


EXPERIMENT = {
    "id": "exp-2",
    "name": "candidate",
    "created_at": 0,
    "dataset": "gold.jsonl",
    "dataset_hash": "abc",
    "options": {"prompt": "grounded_answer@staging", "app": None, "model": None, "judge": None},
    "pass_rate": 0.5,
    "metrics": {"token_f1": 0.55, "latency_ms": 105.5},
    "cases": [
        _case("a", True, ["factual"], 0.9),
        _case("b", False, ["factual", "multi-hop"], 0.2, "<script>alert(1)</script> | pipe"),
        _case("c", True, ["refusal"], 1.0),
        _case("d", False, ["factual"], 0.1),
    ],
}
COMPARISON = {
    "baseline": "exp-1",
    "candidate": "exp-2",
    "pass_rate": {"baseline": 1.0, "candidate": 0.5, "delta": -0.5},
    "metrics": {"token_f1": {"baseline": 0.8, "candidate": 0.55, "delta": -0.25}},
    "regressed": ["b", "d"],
    "fixed": [],
    "cases": [],
}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collect:
    p = _Collect()
    p.feed(page)
    return p


def test_markdown_lists_metrics_tags_regressions_and_failures() -> None:
    md = markdown(EXPERIMENT, COMPARISON)
    assert "pass rate: **50.0%**" in md
    assert "| token_f1 | 0.55 |" in md
    # Per-tag: factual 3 cases, 1 passed.
    assert "| factual | 3 | 1 | 33.3% |" in md
    assert "| pass_rate | 100.0% | 50.0% | -50.0% |" in md
    assert "**Regressed (2)**: `b`, `d`" in md
    # A pipe in a case's text would split the table row.
    assert "## Failing cases (2)" in md
    for line in md.splitlines():
        if line.startswith("| b |"):
            assert line.count(" | ") == 2


def test_html_is_self_contained_escaped_and_has_charts() -> None:
    page = html(EXPERIMENT, COMPARISON)
    parsed = _parse(page)
    names = [t for t, _ in parsed.tags]
    assert "script" not in names  # the answer's <script> was escaped, not injected
    assert "&lt;script&gt;" in page
    # Nothing loads from elsewhere.
    for _, attrs in parsed.tags:
        for key in ("src", "href"):
            assert not attrs.get(key), attrs
    assert names.count("svg") >= 4  # two metric histograms, the tag bars, the delta bars
    ids = {a.get("id") for _, a in parsed.tags}
    assert {"pass-rate", "distributions", "tags", "regressions", "comparison"} <= ids
    assert "Regressions (2)" in "".join(parsed.text)


def test_histogram_counts_every_value() -> None:
    page = html(EXPERIMENT)
    # Four cases with a token_f1 each: the titles of the bars add up to four.
    start = page.index("<h3>token_f1</h3>")
    svg = page[start : page.index("</svg>", start)]
    counts = [int(t.split(": ")[1].split("<")[0]) for t in svg.split("<title>")[1:]]
    assert sum(counts) == 4
    assert "comparison" not in page  # no baseline given, no comparison section


def test_write_report_picks_the_format_by_suffix(tmp_path: Path) -> None:
    md = write_report(tmp_path / "out" / "r.md", EXPERIMENT, None)
    page = write_report(tmp_path / "r.html", EXPERIMENT, COMPARISON)
    assert md.read_text().startswith("# Evaluation `candidate`")
    assert page.read_text().startswith("<!doctype html>")
