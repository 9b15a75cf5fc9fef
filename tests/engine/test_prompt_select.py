"""Which registry prompt a grounded turn answers with, through `run_turn` without HTTP: the
production label by default, a request's own pin when its roles allow it, a label moved by
another process (another Services on the same store) followed once the resolver's TTL has
passed, a cache that never serves an answer of the prompt a label moved away from, and the
prompt's model parameters where the request set none."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lockgate.config import ModelSpec
from lockgate.engine.errors import GatewayError
from lockgate.engine.run import Engine, Reply
from lockgate.engine.turn import Call, Principal
from lockgate.ingest.pipeline import Ingestor
from lockgate.prompts.spec import PromptSpec
from lockgate.services import Services
from tests.conftest import make_services, make_settings

MOCK = ModelSpec.model_validate({"backend": "mock"})
QUESTION = "How long is the refund window for annual plans?"
DEV = Principal(id="dee", roles=("developer",))
APP = Principal(id="app1", roles=("app",))
STAGED = PromptSpec(
    name="grounded_answer",
    template="STAGED PROMPT\n{{ sources }}\nQ: {{ question }}\n",
    variables=["sources", "question"],
    model={"temperature": 0.15, "max_tokens": 60},  # type: ignore[arg-type]
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(home: Path, grounded: dict[str, Any] | None = None, **overrides: Any):
    base = make_settings(home, None, **overrides)
    # Copied, not validated again: the grounded model is added to the registry with it.
    answer = base.grounded.model_copy(update={"model": "mock-echo", **(grounded or {})})
    return base.model_copy(
        update={"models": {**base.models, "mock-echo": MOCK}, "grounded": answer}
    )


@pytest.fixture
def world(tmp_path: Path, embedder) -> tuple[Engine, Services, Clock]:
    home = tmp_path / "home"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text(
        "# Refunds\n\nAnnual plans can be refunded in full within 30 days of purchase.\n"
    )
    gateway = make_services(_settings(home, cache={"enabled": True}), embedder)
    Ingestor(gateway.documents, gateway.runs, gateway.embedder, gateway.settings.ingest).run(
        [str(docs)]
    )
    clock = Clock()
    gateway.prompt_resolver.clock = clock
    # The other process: `lockgate prompts push` / `label` on the same store.
    cli = Services(_settings(home))
    return Engine(gateway), cli, clock


def ask(engine: Engine, who: Principal = DEV, **extra: Any) -> Reply:
    body = {"model": "lockgate", "messages": [{"role": "user", "content": QUESTION}], **extra}
    return asyncio.run(engine.run_turn(Call("/v1/chat/completions", body, principal=who)))


def push_staged(cli: Services) -> int:
    result = cli.prompt_store.push(STAGED.name, STAGED.hash, STAGED.canonical(), "dev")
    cli.prompt_store.set_label(STAGED.name, "staging", result.seq, "dev")
    return result.seq


def test_a_label_moved_by_another_process_is_followed_after_the_ttl(world) -> None:
    engine, cli, clock = world
    first = ask(engine)
    assert first.error is None and first.state.prompt is not None
    assert (first.state.prompt.version, first.state.prompt.label) == (1, "production")
    assert first.state.cache is not None and first.state.cache.stored is True
    assert ask(engine).state.cache.status == "hit"  # type: ignore[union-attr]
    seq = push_staged(cli)
    cli.prompt_store.set_label("grounded_answer", "production", seq, "ops")
    # Within the TTL the gateway still answers with what it resolved: no store read per turn.
    clock.now += 1.0
    assert ask(engine).state.prompt.version == 1  # type: ignore[union-attr]
    clock.now += 1.5  # past grounded.prompt_cache_ttl_s (2 s)
    moved = ask(engine)
    assert moved.error is None and moved.state.prompt is not None
    assert (moved.state.prompt.version, moved.state.prompt.hash) == (seq, STAGED.hash)
    # The old prompt's cached answer is not served for the new prompt.
    assert moved.state.cache is not None and moved.state.cache.status == "miss"
    assert moved.state.prompt_text is not None
    assert moved.state.prompt_text.startswith("STAGED PROMPT\n")
    trace = engine.services.traces.get(moved.call.trace_id)
    assert trace is not None and trace["prompt_version"] == seq
    assert trace["prompt_hash"] == STAGED.hash and trace["prompt_label"] == "production"
    # And back: a rollback in the other process is followed the same way.
    cli.prompt_store.rollback("grounded_answer", "production", "ops")
    clock.now += 2.5
    assert ask(engine).state.prompt.version == 1  # type: ignore[union-attr]


def test_a_pin_needs_the_scope_and_a_known_prompt(world) -> None:
    engine, cli, _ = world
    seq = push_staged(cli)
    for ref, label in (("grounded_answer@staging", "staging"), (f"grounded_answer@{seq}", None)):
        pinned = ask(engine, lockgate={"prompt": ref})
        assert pinned.error is None, pinned.error
        assert pinned.state.prompt is not None
        assert (pinned.state.prompt.version, pinned.state.prompt.label) == (seq, label)
    refused = ask(engine, APP, lockgate={"prompt": "grounded_answer@staging"})
    assert refused.error is not None and refused.error.status == 403
    assert refused.error.code == "insufficient_scope" and refused.error.param == "lockgate.prompt"
    assert ask(engine, APP).error is None  # the same caller without a pin is answered
    for ref, says in (
        ("grounded_answer@nolabel", "has no label 'nolabel'"),
        ("grounded_answer@77", "has no version 77"),
        ("ghost@production", "no prompt named 'ghost'"),
        ("Bad Ref", "not a prompt reference"),
    ):
        bad = ask(engine, lockgate={"prompt": ref})
        assert bad.error is not None and bad.error.status == 400, ref
        assert bad.error.code == "invalid_value" and bad.error.param == "lockgate.prompt"
        assert says in bad.error.message
    body = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}
    body["lockgate"] = {"prompt": "grounded_answer@staging"}
    passthrough = asyncio.run(engine.run_turn(Call("/v1/chat/completions", body, principal=DEV)))
    assert passthrough.error is not None and passthrough.error.status == 400
    assert passthrough.error.param == "lockgate.prompt"


def test_the_prompts_model_params_apply_where_the_request_set_none(world) -> None:
    engine, cli, _ = world
    push_staged(cli)
    pinned = ask(engine, lockgate={"prompt": "grounded_answer@staging"})
    sent = pinned.state.turn
    assert sent is not None
    assert (sent.request.temperature, sent.request.max_tokens) == (0.15, 60)
    own = ask(
        engine, lockgate={"prompt": "grounded_answer@staging"}, temperature=0.9, max_tokens=33
    )
    assert own.state.turn is not None
    assert (own.state.turn.request.temperature, own.state.turn.request.max_tokens) == (0.9, 33)
    default = ask(engine)  # the seed sets no parameters: the grounded defaults stay
    assert default.state.turn is not None and default.state.turn.request.temperature is None
    assert default.state.turn.request.max_tokens == engine.services.settings.grounded.max_tokens


def test_a_pinned_version_in_config_does_not_follow_the_label(tmp_path: Path, embedder) -> None:
    home = tmp_path / "home"
    cli = Services(_settings(home))
    seq = push_staged(cli)
    cli.prompt_store.set_label("grounded_answer", "production", seq)
    engine = Engine(make_services(_settings(home, {"prompt_version": 1}), embedder))
    reply = ask(engine)
    assert reply.state.prompt is not None
    assert (reply.state.prompt.version, reply.state.prompt.label) == (1, None)
    missing = Engine(make_services(_settings(home, {"prompt": "nothing"}), embedder))
    failed = ask(missing)
    assert failed.error is not None and failed.error.status == 503
    assert failed.error.code == "prompt_not_configured" and "lockgate prompts push" in (
        failed.error.message
    )


def test_a_reference_set_by_a_release_is_not_the_callers_mistake(world) -> None:
    """A stage ahead of prompt_select (a release) may set the turn's reference: it is
    resolved like a pin, needs no scope of the caller, and a bad one is the operator's 503."""
    from dataclasses import replace

    from lockgate.engine.parse import parse_turn
    from lockgate.engine.stages.prompt_select import PromptSelect

    engine, cli, _ = world
    seq = push_staged(cli)
    stage = PromptSelect.from_services(engine.services)
    body = {"model": "lockgate", "messages": [{"role": "user", "content": QUESTION}]}
    turn = parse_turn(
        Call("/v1/chat/completions", body, principal=APP),
        engine.services.settings,
        engine.services.models,
    )
    released = replace(turn, prompt_ref="grounded_answer@staging")
    assert stage.select(released).version == seq
    with pytest.raises(GatewayError) as caught:
        stage.select(replace(turn, prompt_ref="grounded_answer@gone"))
    assert caught.value.status == 503 and caught.value.code == "prompt_not_configured"
