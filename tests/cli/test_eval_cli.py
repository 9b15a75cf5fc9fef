"""`lockgate eval` end to end: real documents ingested into a real store, the real pipeline in
process, and an upstream model on loopback whose answers the test scripts.

The proof: a run with good answers is labelled `baseline`; a run where the model answers two
cases worse fails the gate, which names exactly those cases; a run with the good answers
restored passes it. Around it: the `--json` shapes, compare, list/show, a bad dataset (exit 2,
naming the line), scopes (exit 3) and `eval add --from-trace`."""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import Result

from lockgate.config import load_settings
from lockgate.eval.dataset import load_cases
from lockgate.services import Services
from lockgate.store.feedback import FeedbackRecord, new_feedback_id
from tests.support.scripted_upstream import create_scripted_upstream
from tests.support.server import serve
from tests.test_cli import invoke

DOCS = {
    "refunds.md": "# Refunds\n\nAnnual plans can be refunded in full within 30 days of the "
    "purchase date. Monthly plans are not refundable. Invoice numbers start with NW-INV-.\n",
    "vacation.txt": "Employees receive 25 vacation days per year. Unused vacation days expire "
    "at the end of March.\n",
    "security.md": "# Logging\n\nApplication logs are retained for 90 days; personal data is "
    "masked before storage.\n",
    "support.md": "# Support\n\nThe support desk is open from 09:00 to 17:00 on working days.\n",
}

CASES: list[dict[str, Any]] = [
    {
        "id": "refund-window",
        "input": "Within how many days can annual plans be refunded in full?",
        "expected": "Annual plans can be refunded in full within 30 days of the purchase date.",
        "expected_sources": ["refunds.md"],
        "assert": ["contains: 30 days", "cited: refunds.md"],
        "tags": ["factual"],
    },
    {
        "id": "vacation-days",
        "input": "How many vacation days do employees receive per year?",
        "expected": "Employees receive 25 vacation days per year.",
        "expected_sources": ["vacation.txt"],
        "assert": ["contains: 25 vacation days", "cited: vacation.txt"],
        "tags": ["factual"],
    },
    {
        "id": "log-retention",
        "input": "How long are application logs retained?",
        "expected": "Application logs are retained for 90 days.",
        "expected_sources": ["security.md"],
        "assert": ["contains: 90 days", "not-contains: 30 days"],
        "tags": ["factual"],
    },
    {
        "id": "support-hours",
        "input": [
            {"role": "user", "content": "I have a question about support."},
            {"role": "assistant", "content": "Sure, ask away."},
            {"role": "user", "content": "When is the support desk open?"},
        ],
        "expected": "From 09:00 to 17:00 on working days.",
        "expected_sources": ["support.md"],
        "assert": ["regex: 09:00\\D+17:00", "latency-ms < 60000", "cost < 1"],
        "tags": ["multi-turn"],
    },
    {
        "id": "refuse-world-cup",
        "input": "Which country won the football world cup in 1954?",
        "expected": "Not in the documents.",
        "should_refuse": True,
        "assert": ["refused"],
        "tags": ["should-refuse"],
    },
]

GOOD = [
    (
        "refunded in full",
        "Annual plans can be refunded in full within 30 days of the purchase date.",
    ),
    ("vacation days", "Employees receive 25 vacation days per year."),
    ("application logs", "Application logs are retained for 90 days."),
    ("support desk", "The support desk is open from 09:00 to 17:00 on working days."),
]
# The planted regression: two answers get worse, the rest stay as they were.
WORSE = [
    ("refunded in full", "Annual plans can be refunded within 14 days."),
    ("vacation days", GOOD[1][1]),
    ("application logs", "Application logs are retained for 30 days."),
    ("support desk", GOOD[3][1]),
]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Any]:
    app = create_scripted_upstream(GOOD)
    with serve(app) as base:
        app.state.base = base
        yield app


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder, upstream) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval-cli")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    spec = {
        "backend": "openai",
        "base_url": upstream.state.base + "/v1",
        "price_input_per_1k": 0.5,
        "price_output_per_1k": 1.5,
        "context_window": 8192,
        "resilience": {"retries": 0, "breaker": {"enabled": False}},
    }
    config = {
        # The planted regressions are unsupported answers, which the answer check would
        # replace with quotes from the documents: the gate is tested on the model's own.
        "grounded": {"model": "scripted", "extractive": {"enabled": False}},
        "guardrails": {"enabled": False},
        "cache": {"enabled": False},
        "models": {"scripted": spec, "scripted-b": spec},
    }
    (root / "lockgate.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    dataset = root / "cases.jsonl"
    dataset.write_text("".join(json.dumps(c) + "\n" for c in CASES), encoding="utf-8")
    home = root / "home"
    result = invoke(["ingest", str(docs)], home, root, embedder)
    assert result.exit_code == 0, result.output
    return {"root": root, "home": home, "dataset": dataset}


def run(
    site: dict[str, Path], embedder: Any, *args: str, env: dict[str, str] | None = None
) -> Result:
    return invoke(list(args), site["home"], site["root"], embedder, env=env)


def run_json(site: dict[str, Path], embedder: Any, *args: str) -> dict[str, Any]:
    result = run(site, embedder, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # stderr has the warnings and notes


def test_a_planted_regression_fails_the_gate_and_restoring_passes(site, embedder, upstream) -> None:
    upstream.state.rules = GOOD
    first = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--name", "good")
    assert first["pass_rate"] == 1.0, [c for c in first["cases"] if not c["passed"]]
    assert run(site, embedder, "eval", "label", first["experiment"], "baseline").exit_code == 0

    upstream.state.rules = WORSE
    second = run_json(site, embedder, "eval", "run", str(site["dataset"]))
    failed = {c["id"] for c in second["cases"] if not c["passed"]}
    why = [(c["id"], c["error"], c["answer"]) for c in second["cases"] if not c["passed"]]
    assert failed == {"refund-window", "log-retention"}, why
    assert second["pass_rate"] == pytest.approx(3 / 5)

    gate = run(site, embedder, "eval", "gate", "--baseline", "baseline", "--max-drop", "1%")
    assert gate.exit_code == 1, gate.output
    assert "GATE FAILED: pass rate dropped 40.00%" in gate.output
    assert "regressed cases: refund-window, log-retention" in gate.output
    verdict = json.loads(
        run(site, embedder, "eval", "gate", "--baseline", "baseline", "--json").output
    )
    assert verdict["passed"] is False and verdict["regressed"] == ["refund-window", "log-retention"]
    # Runs and the moving of a gate's baseline are in the audit log.
    services = _services(site)
    labelled = services.audit.last("eval.labelled")
    assert labelled is not None and labelled["data"]["label"] == "baseline"
    assert labelled["data"]["experiment_id"] == first["experiment"]
    recorded = services.audit.last("eval.recorded")
    assert recorded is not None and recorded["data"]["experiment_id"] == second["experiment"]
    assert recorded["data"]["cases"] == 5 and recorded["actor"] == "cli-operator"
    # The failed gate is an audited event (alerting's eval_gate rule counts it).
    failed_gate = services.audit.last("eval.gate_failed")
    assert failed_gate is not None and failed_gate["data"]["candidate"] == second["experiment"]
    assert failed_gate["data"]["baseline"] == first["experiment"]
    assert "pass rate dropped 40.00%" in failed_gate["data"]["failures"][0]
    services.engine.dispose()
    # A drop the threshold allows passes the same comparison.
    loose = run(site, embedder, "eval", "gate", "--baseline", "baseline", "--max-drop", "0.5")
    assert loose.exit_code == 0, loose.output

    upstream.state.rules = GOOD
    third = run_json(site, embedder, "eval", "run", str(site["dataset"]))
    assert third["pass_rate"] == 1.0
    gate = run(site, embedder, "eval", "gate", "--baseline", "baseline", "--max-drop", "1%")
    assert gate.exit_code == 0, gate.output
    assert "gate passed" in gate.output
    # Against the bad run, the good one fixed exactly the planted cases.
    cmp = run_json(site, embedder, "eval", "compare", second["experiment"], third["experiment"])
    assert cmp["fixed"] == ["refund-window", "log-retention"] and cmp["regressed"] == []
    assert cmp["pass_rate"]["delta"] == pytest.approx(0.4)
    by_id = {c["id"]: c for c in cmp["cases"]}
    assert by_id["refund-window"]["baseline_passed"] is False
    assert by_id["refund-window"]["deltas"]["token_f1"] > 0
    # A watched metric can fail the gate on its own: the pass rate dropped 40 points, the
    # `contains` rate (over the four answerable cases) 50.
    args = [
        "eval",
        "gate",
        "--baseline",
        third["experiment"],
        "--candidate",
        second["experiment"],
        "--max-drop",
        "45%",
    ]
    assert run(site, embedder, *args).exit_code == 0
    metric = run(site, embedder, *args, "--metric", "contains")
    assert metric.exit_code == 1, metric.output
    assert "GATE FAILED: contains dropped 50.00% (1 -> 0.5)" in metric.output
    assert "pass rate dropped" not in metric.output


# A prompt wording under which the scripted model answers two cases worse.
TERSE = """name: grounded_answer
variables: [sources, question]
template: |
  TERSE MODE. Answer in as few words as you can.

  {{ sources }}

  Question: {{ question }}
  Answer:
"""


def test_a_planted_prompt_regression_fails_the_gate_and_rolling_back_the_label_passes(
    site, embedder, upstream
) -> None:
    upstream.state.rules = GOOD
    upstream.state.prompt_rules = [("TERSE MODE", WORSE)]
    try:
        good = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--name", "v1")
        assert good["pass_rate"] == 1.0
        labelled = run(site, embedder, "eval", "label", good["experiment"], "prompt-base")
        assert labelled.exit_code == 0, labelled.output

        prompts = site["root"] / "prompts"
        prompts.mkdir(exist_ok=True)
        (prompts / "grounded_answer.yaml").write_text(TERSE, encoding="utf-8")
        pushed = run_json(site, embedder, "prompts", "push", str(prompts))
        (row,) = [r for r in pushed if r["name"] == "grounded_answer"]
        moved = run(site, embedder, "prompts", "label", "grounded_answer", "production",
                    str(row["version"]))
        assert moved.exit_code == 0, moved.output

        planted = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--name", "v2")
        failed = [c for c in planted["cases"] if not c["passed"]]
        why = [(c["id"], c["error"], c["answer"], c["assertions"]) for c in failed]
        assert {c["id"] for c in failed} == {"refund-window", "log-retention"}, why
        gate = run(site, embedder, "eval", "gate", "--baseline", "prompt-base", "--max-drop", "1%")
        assert gate.exit_code == 1, gate.output
        assert "regressed cases: refund-window, log-retention" in gate.output

        back = run(site, embedder, "prompts", "rollback", "grounded_answer")
        assert back.exit_code == 0, back.output
        restored = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--name", "v1b")
        assert restored["pass_rate"] == 1.0
        gate = run(site, embedder, "eval", "gate", "--baseline", "prompt-base", "--max-drop", "1%")
        assert gate.exit_code == 0, gate.output
        # The traces of the three runs name the prompt version each answered with.
        services = _services(site)
        versions = [
            {services.traces.get(c["trace_id"])["prompt_version"] for c in exp["cases"]
             if c["trace_id"]} - {None}
            for exp in (good, planted, restored)
        ]
        services.engine.dispose()
        assert versions == [{1}, {row["version"]}, {1}]
    finally:
        upstream.state.prompt_rules = []


def test_run_json_shape_metrics_and_the_stored_experiment(site, embedder, upstream) -> None:
    upstream.state.rules = GOOD
    out = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--concurrency", "2")
    assert set(out) >= {"experiment", "pass_rate", "metrics", "cases"}
    metrics = out["metrics"]
    for name in (
        "hit_at_k",
        "recall_at_k",
        "mrr",
        "ndcg_at_k",
        "contains",
        "token_f1",
        "rouge_l",
        "bleu",
        "similarity",
        "faithfulness",
        "refusal_correct",
        "citations_valid",
        "latency_ms",
        "ttft_ms",
        "cost_usd",
        "corpus_bleu",
    ):
        assert name in metrics, name
    assert metrics["hit_at_k"] == 1.0 and metrics["refusal_correct"] == 1.0
    assert metrics["faithfulness"] == 1.0  # the answers repeat the documents
    assert 0.8 < metrics["similarity"] <= 1.0
    assert metrics["cost_usd"] > 0
    cases = {c["id"]: c for c in out["cases"]}
    refund = cases["refund-window"]
    assert refund["sources"][0] == "refunds.md"
    assert refund["citations"] and refund["citations"][0]["source"] == "refunds.md"
    assert refund["ttft_ms"] is not None and refund["ttft_ms"] <= refund["latency_ms"]
    assert cases["refuse-world-cup"]["refused"] is True
    assert cases["support-hours"]["input"][-1]["content"] == "When is the support desk open?"
    assert [a["assert"] for a in cases["support-hours"]["assertions"]] == [
        "regex: 09:00\\D+17:00",
        "latency-ms < 60000",
        "cost < 1",
    ]

    shown = run_json(site, embedder, "eval", "show", out["experiment"])
    assert set(shown) >= {
        "id",
        "name",
        "created_at",
        "dataset",
        "dataset_hash",
        "options",
        "pass_rate",
        "metrics",
        "cases",
    }
    assert set(shown["options"]) >= {"app", "prompt", "model", "judge"}
    assert shown["options"]["model"] == "scripted"
    case_keys = {
        "id",
        "tags",
        "passed",
        "metrics",
        "assertions",
        "input",
        "answer",
        "refused",
        "citations",
        "sources",
        "latency_ms",
        "ttft_ms",
        "cost_usd",
        "trace_id",
        "error",
    }
    assert all(set(c) >= case_keys for c in shown["cases"])
    assert shown["cases"][0]["answer"] == refund["answer"]
    # Each case links to the trace of its turn.
    services = _services(site)
    trace = services.traces.get(refund["trace_id"])
    assert trace is not None and trace["output"] == refund["answer"]
    # The answer is sealed at rest like trace content.
    with services.engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT content FROM experiment_cases WHERE trace_id = :t"),
            {"t": refund["trace_id"]},
        ).scalar_one()
    assert "30 days" not in raw
    services.engine.dispose()
    listed = run(site, embedder, "eval", "list")
    assert out["experiment"] in listed.output


def test_model_option_and_unknowns_are_clear_errors(site, embedder, upstream) -> None:
    upstream.state.rules = GOOD
    out = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--model", "scripted-b")
    shown = run_json(site, embedder, "eval", "show", out["experiment"])
    assert shown["options"]["model"] == "scripted-b"
    bad = run(site, embedder, "eval", "run", str(site["dataset"]), "--model", "nope")
    assert bad.exit_code == 2 and "unknown model 'nope'" in bad.output
    missing = run(site, embedder, "eval", "show", "no-such-label")
    assert missing.exit_code == 2 and "no experiment or label 'no-such-label'" in missing.output
    self_gate = run(site, embedder, "eval", "gate", "--baseline", out["experiment"])
    assert self_gate.exit_code == 2 and "latest experiment is the baseline" in self_gate.output
    gate = run(site, embedder, "eval", "gate", "--baseline", out["experiment"], "--max-drop", "x")
    assert gate.exit_code == 2 and "--max-drop" in gate.output
    gate = run(
        site,
        embedder,
        "eval",
        "gate",
        "--baseline",
        out["experiment"],
        "--candidate",
        out["experiment"],
        "--metric",
        "zz",
    )
    assert gate.exit_code == 2 and "unknown metric zz" in gate.output


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: invalid JSON"),
        ('{"id": "x"}', "line 2: 'input' is missing"),
        ('{"id": "x", "input": "q", "assert": ["smells-like: y"]}', "line 2: unknown assertion"),
        ('{"id": "x", "input": "q", "assert": ["similar >= 0.8"]}', "needs the case's 'expected'"),
    ],
)
def test_an_invalid_dataset_names_the_line(site, embedder, line, message) -> None:
    bad = site["root"] / "bad.jsonl"
    bad.write_text(json.dumps(CASES[0]) + "\n" + line + "\n", encoding="utf-8")
    result = run(site, embedder, "eval", "run", str(bad))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def _services(site: dict[str, Path]) -> Services:
    settings = load_settings(site["root"] / "lockgate.yaml")
    return Services(settings.model_copy(update={"home": site["home"]}))


def _key(site: dict[str, Path], tenant: str, role: str) -> str:
    services = _services(site)
    key = services.api_keys.create(f"{role}-{tenant}", tenant, [role])[1]
    services.engine.dispose()
    return key


def test_scopes_and_tenants(site, embedder, upstream) -> None:
    analyst = _key(site, "default", "analyst")
    refused = run(site, embedder, "--api-key", analyst, "eval", "run", str(site["dataset"]))
    assert refused.exit_code == 3 and "eval:run" in refused.output
    assert run(site, embedder, "--api-key", analyst, "eval", "list").exit_code == 0
    developer = _key(site, "default", "developer")
    wrong_app = run(
        site, embedder, "--api-key", developer, "eval", "run", str(site["dataset"]), "--app", "hr"
    )
    assert wrong_app.exit_code == 3 and "may not run as app 'hr'" in wrong_app.output
    app = _key(site, "default", "app")
    assert run(site, embedder, "--api-key", app, "eval", "list").exit_code == 3
    # Another tenant sees none of default's experiments.
    other = _key(site, "globex", "developer")
    listed = run(site, embedder, "--api-key", other, "eval", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.output) == []
    assert run(site, embedder, "--api-key", other, "eval", "show", "baseline").exit_code == 2


def test_add_from_trace_with_a_feedback_correction(site, embedder, upstream) -> None:
    upstream.state.rules = GOOD
    out = run_json(site, embedder, "eval", "run", str(site["dataset"]))
    refund = next(c for c in out["cases"] if c["id"] == "refund-window")
    services = _services(site)
    services.feedback.add(
        FeedbackRecord(
            id=new_feedback_id(),
            tenant="default",
            principal="u",
            trace_id=refund["trace_id"],
            rating=1,
            correction="Annual plans: a full refund within 30 days of purchase.",
        )
    )
    services.engine.dispose()
    target = site["root"] / "from-traces.jsonl"
    result = run(
        site, embedder, "eval", "add", "--from-trace", refund["trace_id"], "--dataset", str(target)
    )
    assert result.exit_code == 0, result.output
    (case,) = load_cases(target)
    assert case.question == CASES[0]["input"]
    assert case.expected == "Annual plans: a full refund within 30 days of purchase."
    assert case.expected_sources == ("refunds.md",)
    assert set(case.tags) == {"from-trace", "corrected", "negative-feedback"}
    again = run(
        site, embedder, "eval", "add", "--from-trace", refund["trace_id"], "--dataset", str(target)
    )
    assert again.exit_code == 2 and "already has a case" in again.output
    printed = run(site, embedder, "eval", "add", "--from-trace", refund["trace_id"])
    assert json.loads(printed.output)["id"] == case.id
    # The trace belongs to tenant default: a key of another tenant cannot reach it.
    other = _key(site, "globex", "developer")
    hidden = run(
        site, embedder, "--api-key", other, "eval", "add", "--from-trace", refund["trace_id"]
    )
    assert hidden.exit_code == 1 and "no trace" in hidden.output
    assert os.path.getsize(target) > 0


def test_report_hook(site, embedder, upstream, monkeypatch) -> None:
    upstream.state.rules = GOOD
    # The real report writer, Markdown and HTML, from the stored shapes.
    md, page = site["root"] / "report.md", site["root"] / "report.html"
    out = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--report", str(md))
    assert out["experiment"] in md.read_text(encoding="utf-8")
    gate = run(
        site,
        embedder,
        "eval",
        "gate",
        "--baseline",
        out["experiment"],
        "--candidate",
        out["experiment"],
        "--report",
        str(page),
    )
    assert gate.exit_code == 0 and page.read_text(encoding="utf-8").lstrip().startswith("<")
    # What the hook hands over.
    written: list[tuple[Path, dict[str, Any], Any]] = []
    fake = types.ModuleType("lockgate.eval.report")
    fake.write_report = lambda path, exp, cmp: written.append((path, exp, cmp))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lockgate.eval.report", fake)
    out = run_json(site, embedder, "eval", "run", str(site["dataset"]), "--report", str(md))
    assert written[-1][0] == md and written[-1][2] is None
    assert written[-1][1]["id"] == out["experiment"] and len(written[-1][1]["cases"]) == 5
    cmp = run(
        site, embedder, "eval", "compare", out["experiment"], out["experiment"], "--report", str(md)
    )
    assert cmp.exit_code == 0
    assert written[-1][2]["baseline"] == out["experiment"] and written[-1][2]["regressed"] == []
