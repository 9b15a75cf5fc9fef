"""Each pipeline stage is testable alone on a hand-built RequestContext, and the pipeline itself
is configurable: custom stages run where settings.pipeline lists them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from lockgate.gateway.app import create_app
from lockgate.gateway.citations import clean, resolve
from lockgate.gateway.context import RequestContext
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.pipeline import STAGES, Pipeline, register
from lockgate.gateway.stages.build_prompt import BuildPrompt
from lockgate.gateway.stages.postprocess import PostProcess
from lockgate.gateway.stages.retrieve import Retrieve
from lockgate.gateway.stages.validate import Validate
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.base import Message, Usage
from lockgate.retrieval.hybrid import RetrievedChunk, SearchFilters, SearchResult
from tests.conftest import make_services, make_settings
from tests.support.server import serve

TRACE_HEADER = "x-lockgate-trace-id"
REFUND = "Annual plans can be refunded in full within 30 days of purchase."
VACATION = "Employees receive 25 vacation days per year; unused days expire in March."


@pytest.fixture(scope="module")
def services(tmp_path_factory, embedder, fake_upstream) -> Any:
    home = tmp_path_factory.mktemp("stages-home")
    docs = tmp_path_factory.mktemp("stages-docs")
    (docs / "refunds.md").write_text(f"# Refunds\n\n{REFUND}\n", encoding="utf-8")
    (docs / "vacation.txt").write_text(VACATION + "\n", encoding="utf-8")
    services = make_services(
        make_settings(home, fake_upstream, grounded={"model": "echo"}), embedder
    )
    Ingestor(services.documents, services.runs, services.embedder, services.settings.ingest).run(
        [str(docs)]
    )
    return services


def run(stage: Any, ctx: RequestContext) -> RequestContext:
    asyncio.run(stage.run(ctx))
    return ctx


def context(body: dict[str, Any] | None = None, **fields: Any) -> RequestContext:
    ctx = RequestContext(endpoint="/v1/chat/completions", body=body or {})
    for key, value in fields.items():
        setattr(ctx, key, value)
    return ctx


def chunk(
    n: int,
    text: str,
    source: str = "/docs/a.md",
    page: int | None = None,
    heading: tuple[str, ...] = (),
) -> RetrievedChunk:
    return RetrievedChunk(
        rank=n,
        score=1.0 / n,
        chunk_id=100 + n,
        document_id=n,
        version=1,
        source=source,
        page=page,
        heading_path=list(heading),
        text=text,
    )


def grounded_ctx(raw: str, chunks: list[RetrievedChunk], stream: bool = False) -> RequestContext:
    return context(
        grounded=True,
        model_name="lockgate",
        backend_model="echo",
        backend="openai",
        raw_output=raw,
        context_chunks=chunks,
        stream=stream,
        prompt="the rendered prompt",
    )


# -- Validate -------------------------------------------------------------------------------


def test_validate_pass_through_request(services) -> None:
    ctx = run(
        Validate(services),
        context(
            {
                "model": "echo",
                "temperature": 0.2,
                "stop": "END",
                "max_tokens": 33,
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
            }
        ),
    )
    assert ctx.model_name == ctx.backend_model == "echo" and ctx.backend == "openai"
    assert ctx.grounded is False and ctx.question == ""
    assert ctx.messages == [Message("system", "s"), Message("user", "q")]
    assert ctx.request is not None
    assert ctx.request.max_tokens == 33 and ctx.request.temperature == 0.2
    assert ctx.request.stop == ["END"]


def test_validate_grounded_request(services) -> None:
    ctx = run(
        Validate(services),
        context(
            {
                "model": "lockgate",
                "stream": True,
                "messages": [
                    {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "a"},
                    {"role": "user", "content": "  the real question  "},
                ],
                "lockgate": {"k": 4, "source_prefix": "/docs"},
            }
        ),
    )
    assert ctx.grounded and ctx.backend_model == "echo" and ctx.stream
    assert ctx.question == "the real question"
    assert ctx.top_k == 4 and ctx.filters == SearchFilters("/docs", None)
    assert ctx.request.max_tokens == services.settings.grounded.max_tokens


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, "model_not_found"),
        (
            {"model": "lockgate", "messages": [{"role": "system", "content": "x"}]},
            400,
            "missing_question",
        ),
        ({"model": "echo"}, 400, "missing_required_parameter"),
    ],
)
def test_validate_rejects(services, body: dict[str, Any], status: int, code: str) -> None:
    with pytest.raises(GatewayError) as exc:
        run(Validate(services), context(body))
    assert exc.value.status == status and exc.value.code == code


# -- Retrieve -------------------------------------------------------------------------------


def test_retrieve_finds_relevant_chunks(services) -> None:
    ctx = run(Retrieve(services), context(grounded=True, question="refund window annual plan"))
    assert ctx.retrieval is not None and not ctx.refused
    assert Path(ctx.retrieval.chunks[0].source).name == "refunds.md"
    assert ctx.retrieval.max_similarity >= services.settings.grounded.min_relevance
    assert any(t.stage.startswith("retrieve.") for t in ctx.timings)


def test_retrieve_refuses_below_min_relevance(services) -> None:
    # The stage only needs settings and a retriever: a stricter config, same index.
    strict = services.settings.grounded.model_copy(update={"min_relevance": 0.99})
    fake = SimpleNamespace(
        settings=SimpleNamespace(grounded=strict, retrieval=services.settings.retrieval),
        retriever=services.retriever,
    )
    ctx = run(Retrieve(fake), context(grounded=True, question="refund window annual plan"))
    assert ctx.refused and ctx.output == strict.refusal_message
    assert ctx.retrieval is not None and ctx.retrieval.max_similarity < 0.99
    refuse = [t for t in ctx.timings if t.stage == "retrieve.refuse"]
    assert refuse and "best similarity" in refuse[0].note


def test_retrieve_ignores_pass_through_requests(services) -> None:
    ctx = run(Retrieve(services), context(grounded=False, question="refund"))
    assert ctx.retrieval is None and ctx.timings == []


# -- BuildPrompt ----------------------------------------------------------------------------


def test_build_prompt_numbers_the_chunks(services) -> None:
    chunks = [
        chunk(1, "First text.", "/d/a.pdf", page=2, heading=("Policy", "Refunds")),
        chunk(2, "Second text.", "/d/b.md"),
        chunk(3, "Third."),
        chunk(4, "Fourth."),
    ]
    ctx = context(grounded=True, question="What?", retrieval=SearchResult(chunks, 0.8))
    ctx.request = run(
        Validate(services),
        context({"model": "lockgate", "messages": [{"role": "user", "content": "What?"}]}),
    ).request
    run(BuildPrompt(services), ctx)
    assert len(ctx.context_chunks) == services.settings.grounded.context_chunks == 3
    assert "[1] (a.pdf, page 2, Policy > Refunds)\nFirst text." in ctx.prompt
    assert "[2] (b.md)\nSecond text." in ctx.prompt and "Fourth." not in ctx.prompt
    assert ctx.prompt.rstrip().endswith("Question: What?\nAnswer:")
    assert ctx.prompt_template == "grounded_answer" and ctx.prompt_version == 3
    assert ctx.request.messages == [Message("user", ctx.prompt)]
    assert ctx.request.raw_prompt == ctx.prompt


def test_build_prompt_keeps_to_the_character_budget(services) -> None:
    budget = services.settings.grounded.context_chars
    chunks = [chunk(1, "a" * (budget - 10)), chunk(2, "b" * 50), chunk(3, "c" * 5)]
    ctx = context(grounded=True, question="q", retrieval=SearchResult(chunks, 0.8))
    ctx.request = SimpleNamespace(raw_prompt=None, messages=[])
    run(BuildPrompt(services), ctx)
    assert [c.chunk_id for c in ctx.context_chunks] == [101, 103]  # the 50-char one is skipped


def test_build_prompt_skips_refused(services) -> None:
    ctx = context(grounded=True, refused=True, retrieval=SearchResult([chunk(1, "x")], 0.1))
    ctx.request = SimpleNamespace(raw_prompt=None, messages=[])
    run(BuildPrompt(services), ctx)
    assert ctx.prompt is None and ctx.request.messages == []


# -- PostProcess and citations --------------------------------------------------------------


def test_invented_citations_are_removed(services) -> None:
    chunks = [chunk(1, REFUND), chunk(2, VACATION)]
    ctx = run(
        PostProcess(services),
        grounded_ctx("Annual plans are refundable for 30 days [1][7]. Also [0] and [3].", chunks),
    )
    assert "[7]" not in ctx.output and "[0]" not in ctx.output and "[3]" not in ctx.output
    assert "[1]" in ctx.output
    assert [c["chunk_id"] for c in ctx.citations] == [101]
    assert ctx.citations[0]["index"] == 1 and ctx.citations[0]["source"] == "/docs/a.md"
    assert ctx.grounded_answer and not ctx.refused


def test_resolve_directly() -> None:
    chunks = [chunk(1, REFUND)]
    answer = resolve("Thirty days [2] [1] [1] [12].", chunks)
    assert "[2]" not in answer.text and "[12]" not in answer.text
    assert answer.text.count("[1]") == 2 and answer.cited == [1]
    assert answer.suffix == "" and not answer.refused


def test_uncited_copy_of_a_chunk_is_attributed(services) -> None:
    chunks = [chunk(1, VACATION), chunk(2, REFUND)]
    ctx = run(
        PostProcess(services),
        grounded_ctx("Annual plans can be refunded within 30 days of purchase.", chunks),
    )
    assert ctx.output.endswith(" [2]")
    assert [c["chunk_id"] for c in ctx.citations] == [102] and ctx.grounded_answer


def test_uncited_unsupported_answer_stays_uncited(services) -> None:
    ctx = run(PostProcess(services), grounded_ctx("Bananas are yellow.", [chunk(1, REFUND)]))
    assert ctx.output == "Bananas are yellow." and ctx.citations == []
    assert not ctx.grounded_answer and not ctx.refused


def test_streamed_answer_is_extended_not_rewritten(services) -> None:
    chunks = [chunk(1, VACATION), chunk(2, REFUND)]
    raw = "Annual plans can be refunded within 30 days of purchase.\nQuestion: more?"
    ctx = run(PostProcess(services), grounded_ctx(raw, chunks, stream=True))
    assert ctx.stream_suffix == " [2]" and ctx.output == raw + " [2]"


@pytest.mark.parametrize(
    "raw",
    [
        "I don't know.",
        "I do not know the answer.",
        "The sources do not say.",
        "   ",
        "\nQuestion: echo only",
    ],
)
def test_dont_know_or_empty_answer_is_refused(services, raw: str) -> None:
    ctx = run(PostProcess(services), grounded_ctx(raw, [chunk(1, REFUND)]))
    assert ctx.refused and ctx.citations == [] and not ctx.grounded_answer
    if not clean(raw):
        assert ctx.output == services.settings.grounded.refusal_message


def test_postprocess_counts_tokens_and_cost(services) -> None:
    ctx = context(
        grounded=False,
        model_name="echo",
        backend_model="echo",
        backend="openai",
        raw_output="abcd" * 10,
        prompt="abcd" * 100,
    )
    run(PostProcess(services), ctx)
    assert ctx.output == ctx.raw_output  # pass-through output is untouched
    assert ctx.usage == Usage(100, 10)  # estimated: the upstream reported none
    assert ctx.cost == pytest.approx((100 * 0.5 + 10 * 1.5) / 1000)
    reported = context(backend_model="echo", raw_output="x", usage=Usage(7, 3))
    assert run(PostProcess(services), reported).usage == Usage(7, 3)


def test_clean_cuts_prompt_echo_and_moves_header_citation() -> None:
    assert clean("Thirty days [1].\nQuestion: next?\nAnswer: x") == "Thirty days [1]."
    assert clean("[2] (faq.txt, page 1)\nThirty days.") == "Thirty days. [2]"


# -- the pipeline ---------------------------------------------------------------------------


@register("test_tag_request")
class TagRequest:
    """Runs before the model: forces the temperature the upstream receives."""

    name = "test_tag_request"

    def __init__(self, services: Any) -> None:
        self.services = services

    async def run(self, ctx: RequestContext) -> None:
        if ctx.request is not None:
            ctx.request.temperature = 1.25


@register("test_shout")
class Shout:
    """Runs after the model: rewrites the final answer."""

    name = "test_shout"

    def __init__(self, services: Any) -> None:
        pass

    async def run(self, ctx: RequestContext) -> None:
        ctx.output = ctx.output.upper()


@register("test_after_crash")
class AfterCrash:
    name = "test_after_crash"

    def __init__(self, services: Any) -> None:
        pass

    async def run(self, ctx: RequestContext) -> None:
        raise KeyError("bug after the model")


def test_pipeline_splits_at_call_model(services) -> None:
    pipeline = Pipeline(
        [
            STAGES[n](services)
            for n in ("validate", "test_tag_request", "call_model", "postprocess", "test_shout")
        ]
    )
    assert [s.name for s in pipeline.before] == ["validate", "test_tag_request", "call_model"]
    assert [s.name for s in pipeline.after] == ["postprocess", "test_shout"]


def test_unknown_stage_fails_at_app_build(tmp_path, embedder, fake_upstream) -> None:
    settings = make_settings(
        tmp_path / "home", fake_upstream, pipeline=["validate", "no_such_stage", "call_model"]
    )
    with pytest.raises(ValueError, match="unknown pipeline stage.*no_such_stage"):
        create_app(make_services(settings, embedder), preload_models=False)


@pytest.fixture(scope="module")
def custom_gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Any]]:
    settings = make_settings(
        tmp_path_factory.mktemp("custom-home"),
        fake_upstream,
        pipeline=[
            "validate",
            "test_tag_request",
            "retrieve",
            "build_prompt",
            "call_model",
            "postprocess",
            "test_shout",
        ],
    )
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base, services


def test_custom_stages_run(custom_gateway) -> None:
    base, services = custom_gateway
    resp = httpx.post(
        base + "/v1/chat/completions",
        timeout=30,
        json={"model": "echo", "messages": [{"role": "user", "content": "quiet please"}]},
    )
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "ECHO: QUIET PLEASE"
    trace = services.traces.get(resp.headers[TRACE_HEADER])
    names = [s["stage"] for s in trace["stages"]]
    assert names == [
        "validate",
        "test_tag_request",
        "retrieve",
        "build_prompt",
        "call_model",
        "postprocess",
        "test_shout",
    ]
    assert trace["output"] == "ECHO: QUIET PLEASE"


def test_custom_stage_before_the_model_changes_the_upstream_call(tmp_path, embedder) -> None:
    from tests.support.fake_upstream import create_fake_upstream

    upstream = create_fake_upstream()
    with serve(upstream) as up:
        settings = make_settings(
            tmp_path / "home",
            up + "/v1",
            pipeline=["validate", "test_tag_request", "call_model", "postprocess"],
        )
        with serve(
            create_app(make_services(settings, embedder), preload_models=False),
            ready_path="/healthz",
        ) as base:
            resp = httpx.post(
                base + "/v1/chat/completions",
                timeout=30,
                json={
                    "model": "echo",
                    "temperature": 0,
                    "messages": [{"role": "user", "content": "x"}],
                },
            )
    assert resp.status_code == 200
    assert upstream.state.calls[-1]["temperature"] == 1.25


def test_stage_crash_after_the_model_ends_the_stream_cleanly(
    tmp_path, embedder, fake_upstream
) -> None:
    settings = make_settings(
        tmp_path / "home",
        fake_upstream,
        pipeline=["validate", "call_model", "postprocess", "test_after_crash"],
    )
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        resp = httpx.post(
            base + "/v1/chat/completions",
            timeout=30,
            json={"model": "echo", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
        assert httpx.get(base + "/healthz").status_code == 200
    assert resp.status_code == 200
    lines = [b for b in resp.text.split("\n\n") if b]
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2][len("data: ") :])
    assert error["error"]["code"] == "internal_error" and "bug after" not in resp.text
    trace = services.traces.get(resp.headers[TRACE_HEADER])
    assert trace["status"] == "error" and trace["http_status"] == 500
    assert "KeyError" in trace["error"]
