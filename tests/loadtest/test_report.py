"""The report's arithmetic and warnings on hand-made samples, and the scenarios: the default
is the gold set's answerable questions, and a file's lines become streamed requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.loadtest.generator import Run, Sample
from lockgate.loadtest.questions import GOLD_TAGS, QUESTIONS
from lockgate.loadtest.report import percentile, summarize, with_projection
from lockgate.loadtest.scenario import default_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]


def _run(samples: list[Sample], cpu: float = 0.1, wall: float = 2.0) -> Run:
    return Run(
        samples,
        rps=5,
        duration=2,
        wall=wall,
        send_span=1.8,
        cpu_thread=cpu * wall,
        cpu_process=cpu * wall,
        connections=3,
    )


def test_percentiles_interpolate() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.5
    assert percentile([float(i) for i in range(1, 101)], 0.95) == pytest.approx(95.05)


def test_the_summary() -> None:
    samples = [
        Sample(
            i * 0.2,
            0.001,
            "200",
            latency=0.1 * (i + 1),
            ttft=0.05,
            cost=0.01,
            tokens_in=10,
            tokens_out=4,
        )
        for i in range(8)
    ]
    samples += [Sample(1.6, 0.001, "502", latency=0.2), Sample(1.8, 0.002, "timeout")]
    r = summarize(_run(samples), "http://x", "s")
    assert (r.requests, r.ok, r.errors, r.error_rate) == (10, 8, {"502": 1, "timeout": 1}, 0.2)
    assert r.rps_sent == 5.0 and r.rps_achieved == 4.0  # 9 intervals in 1.8 s; 8 ok in 2 s
    assert r.latency_ms["p50"] == 450.0 and r.latency_ms["max"] == 800.0
    assert r.cost == pytest.approx(0.08) and r.cost_per_1k_requests == pytest.approx(8.0)
    assert (r.tokens_in, r.tokens_out) == (80, 32) and r.warnings == []
    assert with_projection(r, 2.0).projected_load_multiple == 2.0  # 4.0 / 2.0


def test_an_overloaded_generator_is_called_out() -> None:
    growing = [Sample(i * 0.05, i * 0.002, "200", latency=0.01, ttft=0.01) for i in range(40)]
    r = summarize(_run(growing, cpu=0.8), "http://x", "s")
    assert any("80% of a core" in w for w in r.warnings)
    assert any("fell behind its schedule" in w for w in r.warnings)
    assert any("lag grew" in w for w in r.warnings)
    assert r.cost is None and r.cost_per_1k_requests is None


def test_the_default_scenario_is_the_gold_sets_answerable_questions() -> None:
    gold = [json.loads(line) for line in (ROOT / "samples/eval/gold.jsonl").open()]
    wanted = [
        g["input"]
        for g in gold
        if isinstance(g["input"], str) and set(g.get("tags", [])) <= set(GOLD_TAGS)
    ]
    assert list(QUESTIONS) == wanted and len(QUESTIONS) > 40
    body = json.loads(default_scenario(max_tokens=64).bodies[0])
    assert body == {
        "messages": [{"role": "user", "content": QUESTIONS[0]}],
        "model": "lockgate",
        "stream": True,
        "max_tokens": 64,
    }


def test_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    lines = [
        {"question": "Q1"},
        {"input": "Q2"},
        {"model": "m", "stream": False, "messages": [{"role": "user", "content": "Q3"}]},
        {"input": [{"role": "user", "content": "Q4"}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    bodies = [json.loads(b) for b in load_scenario(path, model="lockgate").bodies]
    assert [b["messages"][-1]["content"] for b in bodies] == ["Q1", "Q2", "Q3", "Q4"]
    assert [b["model"] for b in bodies] == ["lockgate", "lockgate", "m", "lockgate"]
    assert all(b["stream"] is True for b in bodies)  # TTFT needs a stream
