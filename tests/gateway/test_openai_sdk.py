"""The gateway driven by the official `openai` package over real HTTP, with the real embedder
and the real embedded Gemma model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from tests.conftest import make_services, make_settings
from tests.support.server import serve


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, gemma, fake_upstream) -> Iterator[tuple[str, object]]:
    from tests.conftest import SAMPLES

    home = tmp_path_factory.mktemp("sdk-home")
    services = make_services(make_settings(home, fake_upstream), embedder, gemma)
    Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest).run(
        [str(SAMPLES)]
    )
    with serve(create_app(services), ready_path="/readyz") as base:
        yield base, services


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway[0] + "/v1", api_key="unused", max_retries=0)


def test_models_lists_grounded_and_registry(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"lockgate", "gemma-3-270m", "echo", "all-MiniLM-L6-v2"} <= ids


def test_grounded_answer_cites_the_right_file(client: openai.OpenAI, gateway) -> None:
    resp = client.chat.completions.with_raw_response.create(
        model="lockgate",
        messages=[{"role": "user", "content": "How long is the refund window for annual plans?"}],
        max_tokens=48,
        temperature=0,
    )
    completion = resp.parse()
    meta = completion.model_extra["lockgate"]
    assert resp.headers["x-lockgate-trace-id"] == meta["trace_id"]
    assert completion.choices[0].message.content
    assert meta["refused"] is False
    # Retrieval put the refund policy first; whatever the small model wrote, every citation
    # must point at a chunk that was retrieved, and the refund policy must be among them.
    trace = gateway[1].traces.get(meta["trace_id"])
    retrieved = {r["chunk_id"] for r in trace["retrieved"]}
    assert trace["retrieved"][0]["source"].endswith("refund-policy.md")
    for c in meta["citations"]:
        assert c["chunk_id"] in retrieved
    assert trace["prompt_template"] == "grounded_answer" and trace["prompt_version"] == 1
    assert trace["tokens_in"] > 0 and trace["tokens_out"] > 0
    assert trace["raw_output"] and trace["ttft_ms"] > 0


def test_grounded_stream_ends_with_lockgate_object(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="lockgate",
        messages=[{"role": "user", "content": "What uptime does the enterprise plan guarantee?"}],
        max_tokens=32,
        temperature=0,
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    assert text.strip()
    assert last.usage is not None and last.usage.completion_tokens > 0
    meta = last.model_extra["lockgate"]
    assert meta["trace_id"] and meta["refused"] is False
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_unanswerable_question_is_refused(client: openai.OpenAI, gateway) -> None:
    completion = client.chat.completions.create(
        model="lockgate",
        messages=[{"role": "user", "content": "Who won the football world cup in 1954?"}],
        max_tokens=32,
    )
    meta = completion.model_extra["lockgate"]
    assert meta["refused"] is True
    assert meta["citations"] == []
    assert completion.choices[0].message.content == gateway[1].settings.grounded.refusal_message


def test_passthrough_model_non_stream_and_stream(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hello there"}]
    )
    assert done.choices[0].message.content == "echo: hello there"
    assert done.usage.prompt_tokens == 11
    parts = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "one two three"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert text == "echo: one two three"


def test_embeddings_through_sdk(client: openai.OpenAI, embedder) -> None:
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=["refund", "vacation days"])
    assert len(out.data) == 2 and len(out.data[0].embedding) == 384
    direct = embedder.embed(["refund"])[0]
    assert abs(sum(a * b for a, b in zip(out.data[0].embedding, direct, strict=True)) - 1) < 1e-4


def test_search_endpoint(gateway) -> None:
    resp = httpx.post(gateway[0] + "/v1/search", json={"query": "hotel limit tier 1", "k": 3})
    assert resp.status_code == 200
    results = resp.json()["results"]
    assert len(results) == 3
    assert {"rank", "score", "source", "page", "chunk_id", "text"} <= set(results[0])
    assert Path(results[0]["source"]).name == "travel-expenses.docx"


@pytest.fixture(scope="module")
def quoting_gateway(tmp_path_factory, embedder, gemma) -> Iterator[tuple[str, object]]:
    # The embedded default: `answer_mode: auto`, so the built-in Gemma quotes first.
    from tests.conftest import SAMPLES

    home = tmp_path_factory.mktemp("sdk-auto-home")
    services = make_services(make_settings(home, grounded={}), embedder, gemma)
    Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest).run(
        [str(SAMPLES)]
    )
    with serve(create_app(services), ready_path="/readyz") as base:
        yield base, services


@pytest.mark.parametrize("stream", [False, True])
def test_the_default_answers_the_tiny_models_turns_from_the_sources(quoting_gateway, stream):
    base, services = quoting_gateway
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    question = "How long is the refund window for annual plans?"
    if stream:
        chunks = list(client.chat.completions.create(
            model="lockgate", messages=[{"role": "user", "content": question}], stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        meta = chunks[-1].model_extra["lockgate"]
        usage = chunks[-1].usage
    else:
        completion = client.chat.completions.create(
            model="lockgate", messages=[{"role": "user", "content": question}])
        text = completion.choices[0].message.content or ""
        meta = completion.model_extra["lockgate"]
        usage = completion.usage
    assert "30 days" in text
    assert meta["answer_mode"] == "extractive" and meta["refused"] is False
    assert any(c["source"].endswith("refund-policy.md") for c in meta["citations"])
    # No model call: no tokens, and the trace says the sources were quoted first.
    assert usage is not None and usage.completion_tokens == 0
    trace = services.traces.get(meta["trace_id"])
    assert trace["tokens_out"] == 0
    notes = [s["note"] for s in trace["stages"] if s["stage"] == "answer_check"]
    assert "extractive: quoted first" in notes
