"""Every request leaves one trace that explains it: for a grounded answer, what was retrieved,
the exact prompt, the raw and final output, tokens, cost and timings. The grounded model is the
fake upstream's `echo`, so the whole grounded pipeline runs deterministically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from lockgate.cli import main
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from tests.conftest import make_services, make_settings
from tests.support.server import serve

TRACE_HEADER = "x-lockgate-trace-id"
REFUND_TEXT = "Annual plans can be refunded in full within 30 days of purchase."
DOCS = {
    "refunds.md": f"# Refunds\n\n{REFUND_TEXT} Monthly plans are not refundable.\n",
    "vacation.txt": "Employees receive 25 vacation days per year. Unused vacation days expire "
    "at the end of March and cannot be paid out.\n",
}
QUESTION = "How long is the refund window for annual plans?"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Any, Path]]:
    home = tmp_path_factory.mktemp("traces-home")
    docs = tmp_path_factory.mktemp("traces-docs")
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    services = make_services(
        make_settings(
            home, fake_upstream,
            # echo answers with the prompt itself: this file is about what the trace
            # records of the model's own answer, not the answer check's stand-in.
            grounded={"model": "echo", "extractive": {"enabled": False}},
        ),
        embedder,
    )
    summary = Ingestor(
        services.documents, services.runs, services.embedder, services.settings.ingest
    ).run([str(docs)])
    assert summary.new == 2 and summary.quarantined == 0
    with serve(create_app(services, preload_models=False), ready_path="/readyz") as base:
        yield base, services, home


def ask(base: str, question: str = QUESTION, **extra: Any) -> httpx.Response:
    body = {"model": "lockgate", "messages": [{"role": "user", "content": question}], **extra}
    return httpx.post(base + "/v1/chat/completions", json=body, timeout=30)


@pytest.fixture(scope="module")
def grounded(gateway) -> tuple[httpx.Response, dict[str, Any]]:
    resp = ask(gateway[0])
    assert resp.status_code == 200, resp.text
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace is not None
    return resp, trace


def test_grounded_trace_identity(grounded) -> None:
    resp, trace = grounded
    body = resp.json()
    assert trace["id"] == resp.headers[TRACE_HEADER] == body["lockgate"]["trace_id"]
    assert trace["endpoint"] == "/v1/chat/completions"
    assert trace["model"] == "lockgate"
    assert trace["backend"] == "openai:echo"
    assert trace["prompt_template"] == "grounded_answer" and trace["prompt_version"] == 1
    # The registry's seed: the packaged prompt as version 1, through the production label.
    assert trace["prompt_label"] == "production" and len(trace["prompt_hash"]) == 64
    assert trace["status"] == "ok" and trace["http_status"] == 200 and trace["error"] is None
    assert trace["stream"] is False
    assert trace["principal"] == "anonymous" and trace["tenant"] == "default"
    assert trace["request"]["messages"] == [{"role": "user", "content": QUESTION}]


def test_grounded_trace_retrieval_and_prompt(grounded) -> None:
    resp, trace = grounded
    retrieved = trace["retrieved"]
    assert len(retrieved) == 2  # both documents are one chunk each
    assert Path(retrieved[0]["source"]).name == "refunds.md"
    for r in retrieved:
        assert isinstance(r["chunk_id"], int) and isinstance(r["score"], float)
        assert {"source", "page", "version", "vector_score", "bm25_score", "in_prompt"} <= set(r)
    assert retrieved[0]["score"] >= retrieved[1]["score"]
    assert retrieved[0]["in_prompt"] is True
    # The final prompt is the rendered template holding the retrieved text, numbered.
    assert REFUND_TEXT in trace["prompt"]
    assert "[1] (refunds.md" in trace["prompt"]
    assert trace["prompt"].rstrip().endswith(f"Question: {QUESTION}\nAnswer:")
    # Citations in the answer point at chunks that were retrieved.
    ids = {r["chunk_id"] for r in retrieved}
    citations = resp.json()["lockgate"]["citations"]
    assert citations and all(c["chunk_id"] in ids for c in citations)


def test_grounded_trace_output_tokens_cost_timings(grounded) -> None:
    resp, trace = grounded
    body = resp.json()
    # echo answers with the whole prompt; the post-processor cut the prompt echo off.
    assert trace["raw_output"].startswith("echo: Answer the question")
    assert REFUND_TEXT in trace["raw_output"]
    assert trace["output"] == body["choices"][0]["message"]["content"]
    assert trace["output"] != trace["raw_output"] and "Sources:" not in trace["output"]
    assert trace["tokens_in"] == 11 == body["usage"]["prompt_tokens"]
    assert trace["tokens_out"] == body["usage"]["completion_tokens"] > 0
    assert trace["cost"] == pytest.approx((11 * 0.5 + trace["tokens_out"] * 1.5) / 1000)
    assert trace["ttft_ms"] > 0 and trace["latency_ms"] >= trace["ttft_ms"]
    names = [s["stage"] for s in trace["stages"]]
    for stage in ("validate", "retrieve", "build_prompt", "call_model", "postprocess"):
        assert stage in names
    assert names.index("validate") < names.index("call_model") < names.index("postprocess")
    assert any(n.startswith("retrieve.") for n in names)  # the retriever's own parts
    assert all(s["ms"] >= 0 for s in trace["stages"])
    assert trace["refused"] is False and trace["grounded"] is True


def test_streamed_grounded_answer_is_traced(gateway) -> None:
    resp = ask(gateway[0], stream=True)
    assert resp.status_code == 200
    assert resp.text.endswith("data: [DONE]\n\n")
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace["stream"] is True and trace["status"] == "ok"
    assert trace["prompt_template"] == "grounded_answer"
    assert REFUND_TEXT in trace["prompt"] and trace["raw_output"].startswith("echo:")
    assert trace["tokens_out"] > 0 and trace["ttft_ms"] > 0


def test_refusal_is_traced_without_model_call(gateway) -> None:
    resp = ask(gateway[0], "Who won the football world cup in 1954?")
    assert resp.status_code == 200
    body = resp.json()
    assert body["lockgate"]["refused"] is True
    assert body["choices"][0]["message"]["content"] == (
        gateway[1].settings.grounded.refusal_message
    )
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace["refused"] is True and trace["status"] == "ok"
    assert trace["raw_output"] == "" and trace["tokens_in"] == 0 and trace["cost"] == 0
    assert trace["prompt"] is None and trace["ttft_ms"] is None
    assert any(
        s["stage"] == "retrieve.refuse" and "similarity" in s["note"] for s in trace["stages"]
    )


def test_error_request_is_traced(gateway) -> None:
    resp = httpx.post(
        gateway[0] + "/v1/chat/completions",
        json={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]},
    )
    assert resp.status_code == 404
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace["status"] == "error" and trace["http_status"] == 404
    assert "no-such-model" in trace["error"]
    bad = httpx.post(gateway[0] + "/v1/chat/completions", content=b"{oops")
    trace = gateway[1].traces.get(bad.headers[TRACE_HEADER])
    assert trace["status"] == "error" and trace["http_status"] == 400 and trace["model"] is None


def test_upstream_failure_in_grounded_path_is_traced(tmp_path, embedder, fake_upstream) -> None:
    services = make_services(
        make_settings(
            tmp_path / "home",
            fake_upstream,
            # Degradation off: this test is about how a failure is traced (otherwise an
            # extractive stand-in would answer; see tests/gateway/test_resilience.py).
            grounded={"model": "fail-500", "min_relevance": -1, "degrade": {"enabled": False}},
        ),
        embedder,
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text(DOCS["refunds.md"], encoding="utf-8")
    Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest).run(
        [str(docs)]
    )
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        resp = ask(base)
    assert resp.status_code == 502
    trace = services.traces.get(resp.headers[TRACE_HEADER])
    assert trace["status"] == "error" and trace["http_status"] == 502
    assert trace["backend"] == "openai:fail-500"
    # Retrieval and the prompt are kept, to debug what the model was asked.
    assert trace["retrieved"] and REFUND_TEXT in trace["prompt"]


def _cli(home: Path, tmp_path: Path, *args: str) -> Any:
    config = tmp_path / "empty.yaml"
    config.write_text("", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["--config", str(config), *args], env={"LOCKGATE_HOME": str(home)}
    )
    return result


def test_cli_lists_and_shows_traces(gateway, grounded, tmp_path) -> None:
    _, services, home = gateway
    resp, trace = grounded
    trace_id = resp.headers[TRACE_HEADER]
    listed = _cli(home, tmp_path, "traces", "list", "-n", "1000", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    row = next(r for r in rows if r["id"] == trace_id)
    assert row["model"] == "lockgate" and row["status"] == "ok" and row["http_status"] == 200
    assert row["tokens_in"] == trace["tokens_in"] and row["cost"] == pytest.approx(trace["cost"])
    shown = _cli(home, tmp_path, "traces", "show", trace_id, "--json")
    assert shown.exit_code == 0, shown.output
    full = json.loads(shown.output)
    assert full["id"] == trace_id
    assert full["prompt"] == trace["prompt"] and full["retrieved"] == trace["retrieved"]
    assert [s["stage"] for s in full["stages"]] == [s["stage"] for s in trace["stages"]]
    text = _cli(home, tmp_path, "traces", "show", trace_id)
    assert text.exit_code == 0 and "grounded_answer v1 (via production, sha256 " in text.output
    missing = _cli(home, tmp_path, "traces", "show", "0" * 32)
    assert missing.exit_code == 1
