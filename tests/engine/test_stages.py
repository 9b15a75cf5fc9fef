"""Each pipeline stage is testable alone: a parsed Turn, a TurnState and a fake inner layer
are all it needs. The pipeline itself is configurable: custom stages (registered through the
plugin hook) run where settings.pipeline lists them, as layers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import httpx
import pytest

from lockgate.engine.answer import Answer
from lockgate.engine.citations import clean, resolve
from lockgate.engine.errors import GatewayError
from lockgate.engine.parse import parse_turn
from lockgate.engine.pipeline import Next, Pipeline, PipelineError, Stage, stage_factories
from lockgate.engine.stages.build_prompt import BuildPrompt
from lockgate.engine.stages.postprocess import PostProcess
from lockgate.engine.stages.prompt_select import PromptSelect
from lockgate.engine.stages.retrieve import Retrieve
from lockgate.engine.state import RetrievalRecord, TurnState
from lockgate.engine.turn import Call, Principal, Turn
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.base import Message, Usage
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import plugin_manager
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


def parse(services: Any, body: dict[str, Any]) -> Turn:
    return parse_turn(Call("/v1/chat/completions", body), services.settings, services.models)


def question_turn(services: Any, question: str, stream: bool = False) -> Turn:
    messages = [{"role": "user", "content": question}]
    return parse(services, {"model": "lockgate", "stream": stream, "messages": messages})


class Inner:
    """The layers inside the stage under test: records the turn it got, answers `answer`."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.turn: Turn | None = None
        self.answer = answer or Answer(raw="inner")

    async def __call__(self, turn: Turn, state: TurnState) -> Answer:
        self.turn = turn
        return self.answer


def run(stage: Any, turn: Turn, state: TurnState | None = None, inner: Inner | None = None):
    state = state or TurnState()
    inner = inner or Inner()
    answer = asyncio.run(stage(turn, state, inner))
    return answer, state, inner


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


def postprocess(
    services: Any, raw: str, chunks: list[RetrievedChunk], stream: bool = False
) -> Answer:
    """The answer work of PostProcess on a grounded answer built from `chunks`."""
    turn = question_turn(services, "What?", stream=stream).with_prompt("the rendered prompt")
    state = TurnState(retrieval=RetrievalRecord(SearchResult(chunks, 0.8), context=chunks))
    state.prompt_text = "the rendered prompt"
    answer = Answer(raw=raw)
    PostProcess.from_services(services).finish(turn, state, answer)
    return answer


# -- Parsing (what the validate stage did) ----------------------------------------------------


def test_validate_pass_through_request(services) -> None:
    turn = parse(
        services,
        {
            "model": "echo",
            "temperature": 0.2,
            "stop": "END",
            "max_tokens": 33,
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        },
    )
    assert turn.model_name == turn.backend_model == "echo" and turn.backend == "openai"
    assert turn.grounded is False and turn.question == ""
    assert list(turn.messages) == [Message("system", "s"), Message("user", "q")]
    assert turn.request is not None
    assert turn.request.max_tokens == 33 and turn.request.temperature == 0.2
    assert turn.request.stop == ["END"]


def test_validate_grounded_request(services) -> None:
    turn = parse(
        services,
        {
            "model": "lockgate",
            "stream": True,
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "  the real question  "},
            ],
            "lockgate": {"k": 4, "source_prefix": "/docs"},
        },
    )
    assert turn.grounded and turn.backend_model == "echo" and turn.stream
    assert turn.question == "the real question"
    assert turn.top_k == 4 and turn.filters == SearchFilters("/docs", None)
    assert turn.request.max_tokens == services.settings.grounded.max_tokens


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
        parse(services, body)
    assert exc.value.status == status and exc.value.code == code


# -- Retrieve -------------------------------------------------------------------------------


def test_retrieve_finds_relevant_chunks(services) -> None:
    stage = Retrieve.from_services(services)
    answer, state, inner = run(stage, question_turn(services, "refund window annual plan"))
    assert state.retrieval is not None and not answer.refused and inner.turn is not None
    assert Path(state.retrieval.result.chunks[0].source).name == "refunds.md"
    assert state.retrieval.result.max_similarity >= services.settings.grounded.min_relevance
    assert any(t.stage.startswith("retrieve.") for t in state.timings)


def test_retrieve_refuses_below_min_relevance(services) -> None:
    # The stage only needs its config and a retriever: a stricter config, same index.
    strict = services.settings.grounded.model_copy(update={"min_relevance": 0.99})
    stage = Retrieve(services.retriever, strict, services.settings.retrieval.top_k)
    answer, state, inner = run(stage, question_turn(services, "refund window annual plan"))
    assert answer.refused and answer.text == strict.refusal_message
    assert inner.turn is None  # nothing inside ran
    assert state.retrieval is not None and state.retrieval.result.max_similarity < 0.99
    refuse = [t for t in state.timings if t.stage == "retrieve.refuse"]
    assert refuse and "best similarity" in refuse[0].note


def test_a_second_hop_search_lists_what_it_finds_with_the_turns_chunks(services) -> None:
    _, state, _ = run(Retrieve.from_services(services), question_turn(services, "refund window"))
    assert state.retrieval is not None and state.retrieval.again is not None
    before = [c.chunk_id for c in state.retrieval.result.chunks]
    found = state.retrieval.again("how many vacation days do employees get")
    assert any(Path(c.source).name == "vacation.txt" for c in found)
    after = state.retrieval.result.chunks
    # The turn's own chunks first, then each new one once, ranked on from the last.
    assert [c.chunk_id for c in after[: len(before)]] == before
    assert len({c.chunk_id for c in after}) == len(after)
    assert [c.rank for c in after] == list(range(1, len(after) + 1))
    assert {c.chunk_id for c in found} <= {c.chunk_id for c in after}


def test_retrieve_ignores_pass_through_requests(services) -> None:
    turn = parse(services, {"model": "echo", "messages": [{"role": "user", "content": "refund"}]})
    _, state, inner = run(Retrieve.from_services(services), turn)
    assert state.retrieval is None and state.timings == [] and inner.turn is turn


# -- BuildPrompt ----------------------------------------------------------------------------


def whole_chunks(services) -> BuildPrompt:
    """build_prompt with the chunks whole in the prompt (`context_select: chunks`)."""
    cfg = services.settings.grounded.model_copy(update={"context_select": "chunks"})
    return BuildPrompt(PromptSelect.from_services(services), cfg)


def test_build_prompt_numbers_the_chunks(services) -> None:
    chunks = [
        chunk(1, "First text.", "/d/a.pdf", page=2, heading=("Policy", "Refunds")),
        chunk(2, "Second text.", "/d/b.md"),
        chunk(3, "Third."),
        chunk(4, "Fourth."),
    ]
    state = TurnState(retrieval=RetrievalRecord(SearchResult(chunks, 0.8)))
    _, state, inner = run(whole_chunks(services), question_turn(services, "What?"), state)
    assert state.retrieval is not None
    assert len(state.retrieval.context) == services.settings.grounded.context_chunks == 3
    sent = inner.turn
    assert sent is not None and sent.prompt is not None
    assert "[1] (a.pdf, page 2, Policy > Refunds)\nFirst text." in sent.prompt
    assert "[2] (b.md)\nSecond text." in sent.prompt and "Fourth." not in sent.prompt
    assert sent.prompt.rstrip().endswith("Question: What?\nAnswer:")
    assert state.prompt is not None
    # Without prompt_select ahead of it, build_prompt resolves the production label itself.
    assert state.prompt.name == "grounded_answer" and state.prompt.version == 1
    assert state.prompt.label == "production"
    assert sent.request.messages == [Message("user", sent.prompt)]
    assert sent.request.raw_prompt == sent.prompt == state.prompt_text


def test_build_prompt_keeps_to_the_character_budget(services) -> None:
    budget = services.settings.grounded.context_chars
    chunks = [chunk(1, "a" * (budget - 10)), chunk(2, "b" * 50), chunk(3, "c" * 5)]
    state = TurnState(retrieval=RetrievalRecord(SearchResult(chunks, 0.8)))
    _, state, _ = run(whole_chunks(services), question_turn(services, "q"), state)
    assert state.retrieval is not None
    assert [c.chunk_id for c in state.retrieval.context] == [101, 103]  # the 50-char one skipped


def test_build_prompt_sends_the_sentences_that_bear_on_the_question(services) -> None:
    long_text = " ".join(f"Filler sentence number {i} talks about nothing." for i in range(40))
    chunks = [
        chunk(1, long_text + " Annual plans can be refunded within 30 days. " + long_text),
        chunk(2, "Office plants are watered on Fridays. The kitchen closes at six."),
        chunk(3, "Monthly plans are not refundable."),
    ]
    state = TurnState(retrieval=RetrievalRecord(SearchResult(chunks, 0.8)))
    turn = question_turn(services, "How many days do I have to get a refund on annual plans?")
    _, state, inner = run(BuildPrompt.from_services(services), turn, state)
    assert state.retrieval is not None and inner.turn is not None
    prompt = inner.turn.prompt or ""
    assert services.settings.grounded.context_select == "sentences"
    # The answer's sentence is in, numbered as its chunk, and the prompt is far shorter.
    context = state.retrieval.context
    first = next(i for i, c in enumerate(context, start=1) if "30 days" in c.text)
    assert context[first - 1].chunk_id == 101
    assert f"[{first}] (" in prompt and "Annual plans can be refunded within 30 days." in prompt
    assert "Office plants" not in prompt
    assert sum(len(c.text) for c in context) <= services.settings.grounded.prompt_chars + 10
    assert len(prompt) < len(long_text)
    assert any(t.stage == "build_prompt.sentences" for t in state.timings)


def test_build_prompt_skips_what_retrieval_refused(services) -> None:
    # Refused by retrieval: the inner layers (build_prompt among them) never run at all.
    strict = services.settings.grounded.model_copy(update={"min_relevance": 0.99})
    retrieve = Retrieve(services.retriever, strict, services.settings.retrieval.top_k)
    build = BuildPrompt.from_services(services)
    built: list[Turn] = []

    async def inner(turn: Turn, state: TurnState) -> Answer:
        async def model(t: Turn, s: TurnState) -> Answer:
            built.append(t)
            return Answer(raw="x")

        return await build(turn, state, model)

    state = TurnState()
    answer = asyncio.run(retrieve(question_turn(services, "refund window"), state, inner))
    assert answer.refused and built == [] and state.prompt_text is None


# -- PostProcess and citations --------------------------------------------------------------


def test_invented_citations_are_removed(services) -> None:
    chunks = [chunk(1, REFUND), chunk(2, VACATION)]
    answer = postprocess(
        services, "Annual plans are refundable for 30 days [1][7]. Also [0] and [3].", chunks
    )
    assert "[7]" not in answer.text and "[0]" not in answer.text and "[3]" not in answer.text
    assert "[1]" in answer.text
    assert [c["chunk_id"] for c in answer.citations] == [101]
    # Shown as callers may see it: no folders of the host above the file.
    assert answer.citations[0]["index"] == 1 and answer.citations[0]["source"] == "a.md"
    assert answer.grounded and not answer.refused


def test_resolve_directly() -> None:
    chunks = [chunk(1, REFUND)]
    answer = resolve("Thirty days [2] [1] [1] [12].", chunks)
    assert "[2]" not in answer.text and "[12]" not in answer.text
    assert answer.text.count("[1]") == 2 and answer.cited == [1]
    assert answer.suffix == "" and not answer.refused


def test_uncited_copy_of_a_chunk_is_attributed(services) -> None:
    chunks = [chunk(1, VACATION), chunk(2, REFUND)]
    answer = postprocess(
        services, "Annual plans can be refunded within 30 days of purchase.", chunks
    )
    assert answer.text.endswith(" [2]")
    assert [c["chunk_id"] for c in answer.citations] == [102] and answer.grounded


def test_uncited_unsupported_answer_stays_uncited(services) -> None:
    answer = postprocess(services, "Bananas are yellow.", [chunk(1, REFUND)])
    assert answer.text == "Bananas are yellow." and answer.citations == []
    assert not answer.grounded and not answer.refused


def test_streamed_answer_is_extended_not_rewritten(services) -> None:
    chunks = [chunk(1, VACATION), chunk(2, REFUND)]
    raw = "Annual plans can be refunded within 30 days of purchase.\nQuestion: more?"
    answer = postprocess(services, raw, chunks, stream=True)
    assert answer.suffix == " [2]" and answer.text == raw + " [2]"


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
    answer = postprocess(services, raw, [chunk(1, REFUND)])
    assert answer.refused and answer.citations == [] and not answer.grounded
    if not clean(raw):
        assert answer.text == services.settings.grounded.refusal_message


def test_postprocess_counts_tokens_and_cost(services) -> None:
    turn = parse(services, {"model": "echo", "messages": [{"role": "user", "content": "x"}]})
    state = TurnState(prompt_text="abcd" * 100)
    answer = Answer(raw="abcd" * 10)
    stage = PostProcess.from_services(services)
    stage.finish(turn, state, answer)
    assert answer.text == answer.raw  # pass-through output is untouched
    assert answer.usage == Usage(100, 10)  # estimated: the upstream reported none
    assert answer.cost == pytest.approx((100 * 0.5 + 10 * 1.5) / 1000)
    reported = Answer(raw="x", usage=Usage(7, 3))
    stage.finish(turn, TurnState(prompt_text="p"), reported)
    assert reported.usage == Usage(7, 3)


def test_postprocess_runs_once_the_answer_is_complete(services) -> None:
    turn = parse(services, {"model": "echo", "messages": [{"role": "user", "content": "x"}]})
    stage = PostProcess.from_services(services)
    answer, state, _ = run(stage, turn, inner=Inner(Answer(raw="hi")))
    assert answer.text == ""  # nothing yet: the answer work waits for completion
    asyncio.run(answer.complete())
    assert answer.text == "hi" and answer.usage.completion_tokens > 0


def test_clean_cuts_prompt_echo_and_moves_header_citation() -> None:
    assert clean("Thirty days [1].\nQuestion: next?\nAnswer: x") == "Thirty days [1]."
    assert clean("[2] (faq.txt, page 1)\nThirty days.") == "Thirty days. [2]"


# -- the pipeline ---------------------------------------------------------------------------


class TagRequest(Stage):
    """Request work: forces the temperature the upstream receives."""

    name: ClassVar[str] = "test_tag_request"
    before: ClassVar[tuple[str, ...]] = ("call_model",)

    def __init__(self, services: Any) -> None:
        self.services = services

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        return await call_next(turn.with_request(temperature=1.25), state)


class Shout(Stage):
    """Answer work: rewrites the final answer once it is complete."""

    name: ClassVar[str] = "test_shout"
    before: ClassVar[tuple[str, ...]] = ("postprocess",)

    def __init__(self, services: Any) -> None:
        pass

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        answer = await call_next(turn, state)

        async def shout(done: Answer) -> None:
            done.text = done.text.upper()

        answer.on_done(shout)
        return answer


class AfterCrash(Stage):
    name: ClassVar[str] = "test_after_crash"

    def __init__(self, services: Any) -> None:
        pass

    async def __call__(self, turn: Turn, state: TurnState, call_next: Next) -> Answer:
        answer = await call_next(turn, state)

        async def crash(done: Answer) -> None:
            raise KeyError("bug after the model")

        answer.on_done(crash)
        return answer


class _TestStages:
    @hookimpl
    def register_stages(self, register: Any) -> None:
        for cls in (TagRequest, Shout, AfterCrash):
            register(cls.name, cls)


@pytest.fixture(scope="module")
def test_stages() -> Iterator[None]:
    plugin = _TestStages()
    plugin_manager().register(plugin, name="test-stages")
    yield
    plugin_manager().unregister(plugin)


def test_stages_register_through_the_plugin_hook(test_stages) -> None:
    factories = stage_factories()
    assert {"test_tag_request", "test_shout", "call_model", "cache"} <= set(factories)


def test_stages_compose_as_layers(services, test_stages) -> None:
    pipeline = Pipeline(
        [
            stage_factories()[n](services)
            for n in ("test_shout", "test_tag_request", "postprocess", "call_model")
        ]
    )
    assert pipeline.names == ["test_shout", "test_tag_request", "postprocess", "call_model"]


def test_unknown_stage_fails_at_app_build(tmp_path, embedder, fake_upstream) -> None:
    settings = make_settings(
        tmp_path / "home", fake_upstream, pipeline=["validate", "no_such_stage", "call_model"]
    )
    with pytest.raises(ValueError, match="unknown pipeline stage.*no_such_stage"):
        create_app(make_services(settings, embedder), preload_models=False)


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (["call_model", "postprocess"], "'call_model' .* must be listed last"),
        (["retrieve", "cache", "call_model"], "'cache' must come before 'retrieve'"),
        (["route", "budget", "build_prompt", "call_model"], "'budget' must come after"),
        (["output_guard", "cache", "call_model"], "must come"),
        (["retrieve", "retrieve", "call_model"], "listed twice"),
    ],
)
def test_misordered_pipeline_fails_at_start_up(
    tmp_path, embedder, fake_upstream, pipeline: list[str], message: str
) -> None:
    settings = make_settings(tmp_path / "home", fake_upstream, pipeline=pipeline)
    with pytest.raises(PipelineError, match=message):
        create_app(make_services(settings, embedder), preload_models=False)


def test_old_stage_names_still_build(tmp_path, embedder, fake_upstream) -> None:
    # `validate` is parsing now, and `cache_lookup`/`cache_store` are the one `cache` layer.
    settings = make_settings(
        tmp_path / "home",
        fake_upstream,
        pipeline=["validate", "cache_lookup", "retrieve", "cache_store", "call_model"],
    )
    app = create_app(make_services(settings, embedder), preload_models=False)
    assert app.state.engine.pipeline.names == ["cache", "retrieve", "call_model"]


@pytest.fixture(scope="module")
def custom_gateway(
    tmp_path_factory, embedder, fake_upstream, test_stages
) -> Iterator[tuple[str, Any]]:
    settings = make_settings(
        tmp_path_factory.mktemp("custom-home"),
        fake_upstream,
        pipeline=[
            "test_shout",
            "test_tag_request",
            "retrieve",
            "build_prompt",
            "postprocess",
            "call_model",
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
    # Parsing first, then each layer in the order it finished: the innermost first.
    assert names == [
        "validate",
        "call_model",
        "postprocess",
        "build_prompt",
        "retrieve",
        "test_tag_request",
        "test_shout",
    ]
    assert trace["output"] == "ECHO: QUIET PLEASE"


def test_custom_stage_before_the_model_changes_the_upstream_call(
    tmp_path, embedder, test_stages
) -> None:
    from tests.support.fake_upstream import create_fake_upstream

    upstream = create_fake_upstream()
    with serve(upstream) as up:
        settings = make_settings(
            tmp_path / "home",
            up + "/v1",
            pipeline=["test_tag_request", "postprocess", "call_model"],
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
    tmp_path, embedder, fake_upstream, test_stages
) -> None:
    settings = make_settings(
        tmp_path / "home",
        fake_upstream,
        pipeline=["test_after_crash", "postprocess", "call_model"],
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


# -- stages with small fakes ----------------------------------------------------------------


def bare_turn(question: str, grounded: bool = True) -> Turn:
    """A Turn built by hand: no settings, no model registry."""
    from lockgate.models.base import ChatRequest

    messages = (Message("user", question),)
    return Turn(
        trace_id="t-1",
        endpoint="/v1/chat/completions",
        created_at=0.0,
        principal=Principal(id="alice"),
        body={},
        model_name="lockgate" if grounded else "m",
        grounded=grounded,
        stream=False,
        include_usage=False,
        messages=messages,
        request=ChatRequest(messages=list(messages), max_tokens=16),
        backend_model="m",
        backend="mock",
        question=question if grounded else "",
    )


def test_retrieve_with_a_fake_retriever() -> None:
    from lockgate.config import GroundedConfig

    asked: list[tuple[str, int]] = []

    def search(question: str, k: int, filters: SearchFilters) -> SearchResult:
        asked.append((question, k))
        return SearchResult([chunk(1, REFUND)], 0.9)

    retriever: Any = SimpleNamespace(search=search)
    stage = Retrieve(retriever, GroundedConfig(), top_k=7)
    answer, state, inner = run(stage, bare_turn("refunds?"))
    assert asked == [("refunds?", 7)] and inner.turn is not None and answer.raw == "inner"
    assert state.retrieval is not None and state.retrieval.result.chunks[0].chunk_id == 101


def test_rate_limit_with_a_fake_limiter_refuses_and_announces() -> None:
    from lockgate.budget.limits import Admission
    from lockgate.engine.stages.rate_limit import RateLimit
    from lockgate.observability.events import RateLimited

    refused = Admission(
        ok=False,
        headers={"x-ratelimit-remaining-requests": "0"},
        retry_after_s=2.5,
        message="slow down",
    )
    limiter: Any = SimpleNamespace(active=lambda: True, store=None, admit=lambda *a: refused)
    stage = RateLimit(limiter, chars_per_token=3.0, context_chars=0)
    state = TurnState()
    with pytest.raises(GatewayError) as exc:
        run(stage, bare_turn("q", grounded=False), state)
    assert exc.value.status == 429 and exc.value.headers["retry-after"] == "3"
    assert state.headers == {"x-ratelimit-remaining-requests": "0"}
    assert [type(e) for e in state.events] == [RateLimited]


def test_rate_limit_settles_to_the_real_usage_when_the_turn_closes() -> None:
    from lockgate.budget.limits import Admission, MemoryBucketStore
    from lockgate.engine.stages.rate_limit import RateLimit

    settled: list[int] = []
    limiter: Any = SimpleNamespace(
        active=lambda: True,
        store=MemoryBucketStore(),
        admit=lambda *a: Admission(ok=True, tokens_taken=100),
        settle=lambda got, actual: settled.append(actual),
    )
    stage = RateLimit(limiter, chars_per_token=3.0, context_chars=0)
    inner = Inner(Answer(usage=Usage(5, 7)))
    answer, _, _ = run(stage, bare_turn("q", grounded=False), inner=inner)
    assert settled == []  # held until the turn is over
    asyncio.run(answer.close("t-1"))
    assert settled == [12]


def test_a_two_part_question_retrieves_each_part_too() -> None:
    from lockgate.engine.stages.retrieve import interleave
    from tests.engine.test_sentences import chunk

    a, b, c, d = chunk(1, "a"), chunk(2, "b"), chunk(3, "c"), chunk(4, "d")
    merged = interleave([[a, b], [b, c], [d]])
    # Every list's best chunk in the first places, each chunk once, ranks renumbered.
    assert [x.chunk_id for x in merged] == [a.chunk_id, b.chunk_id, d.chunk_id, c.chunk_id]
    assert [x.rank for x in merged] == [1, 2, 3, 4]
