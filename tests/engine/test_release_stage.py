"""The release stage on parsed turns: which release serves whom, and what applying one changes
(model, prompt pin, parameters the request left unset), what it leaves alone (what the
request set itself), the trace's `release` and the cache's key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lockgate.config import GuardrailsConfig, ModelSpec, Settings
from lockgate.engine.answer import Answer
from lockgate.engine.parse import parse_turn
from lockgate.engine.stages.cache import Cache
from lockgate.engine.stages.release import ReleaseStage
from lockgate.engine.state import PromptRecord, TurnState
from lockgate.engine.trace import trace_row
from lockgate.engine.turn import Call, Principal, Turn
from lockgate.releases.active import Active
from lockgate.releases.model import Release
from lockgate.upstreams.registry import ModelRegistry

R1 = Release(
    "r1", stage="full", model="big", models={"chat": "chat-v1"}, prompts={"grounded_answer": 2}
)
R2 = Release(
    "r2",
    stage="pilot",
    pilot=("alice",),
    model="small",
    models={"chat": "chat-v2"},
    prompts={"grounded_answer": 3},
    params={"temperature": 0.2, "max_tokens": 400},
)


class Fixed:
    def __init__(self, active: Active) -> None:
        self.value = active

    async def get(self) -> Active:
        return self.value


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    models = dict(Settings(home=tmp_path).models)
    for name, limit in (
        ("big", 512),
        ("small", 128),
        ("chat", 512),
        ("chat-v1", 512),
        ("chat-v2", 512),
    ):
        models[name] = ModelSpec(
            backend="openai",
            base_url="http://127.0.0.1:9/v1",
            max_output_tokens=limit,
            context_window=4096,
        )
    return Settings(home=tmp_path, models=models)  # type: ignore[arg-type]


def _turn(settings: Settings, who: str, **body: Any) -> Turn:
    payload = {"model": "lockgate", "messages": [{"role": "user", "content": "refunds?"}], **body}
    call = Call("/v1/chat/completions", payload, Principal(who, "acme", ("developer",)))
    return parse_turn(call, settings, ModelRegistry(settings))


def _run(settings: Settings, turn: Turn, active: Active) -> tuple[Turn, TurnState]:
    stage = ReleaseStage(Fixed(active), settings)  # type: ignore[arg-type]
    state = TurnState()
    seen: list[Turn] = []

    async def inner(t: Turn, s: TurnState) -> Answer:
        seen.append(t)
        return Answer(text="ok")

    asyncio.run(stage(turn, state, inner))
    return seen[0], state


def test_the_pilot_member_gets_the_rollout_and_everyone_else_the_current(settings) -> None:
    active = Active(R1, R2)
    sent, state = _run(settings, _turn(settings, "alice"), active)
    assert state.release == ("r2", "pilot")
    assert (sent.backend_model, sent.prompt_ref) == ("small", "grounded_answer@3")
    assert sent.request.temperature == 0.2
    # max_tokens 400 is over the small model's 128: held to what the model allows.
    assert sent.request.max_tokens == 128
    sent, state = _run(settings, _turn(settings, "bob"), active)
    assert state.release == ("r1", "full")
    assert (sent.backend_model, sent.prompt_ref) == ("big", "grounded_answer@2")
    assert sent.request.temperature is None


def test_what_the_request_set_itself_is_kept(settings) -> None:
    turn = _turn(
        settings,
        "alice",
        temperature=0.9,
        max_tokens=50,
        lockgate={"prompt": "grounded_answer@prod"},
    )
    sent, _ = _run(settings, turn, Active(R1, R2))
    assert sent.prompt_ref == "grounded_answer@prod"
    assert (sent.request.temperature, sent.request.max_tokens) == (0.9, 50)
    assert sent.backend_model == "small"


def test_pass_through_turns_follow_the_alias_map(settings) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    call = Call("/v1/chat/completions", body, Principal("alice", "acme", ("developer",)))
    turn = parse_turn(call, settings, ModelRegistry(settings))
    sent, state = _run(settings, turn, Active(R1, R2))
    assert sent.backend_model == "chat-v2" and sent.prompt_ref is None
    other = Call("/v1/chat/completions", {**body, "model": "big"}, Principal("alice"))
    sent, state = _run(
        settings, parse_turn(other, settings, ModelRegistry(settings)), Active(R1, R2)
    )
    assert sent.backend_model == "big" and state.release == ("r2", "pilot")


def test_no_release_changes_nothing_and_the_trace_names_the_release(settings) -> None:
    turn = _turn(settings, "alice")
    sent, state = _run(settings, turn, Active())
    assert sent == turn and state.release is None
    sent, state = _run(settings, turn, Active(R1, R2))
    row = trace_row(Call("/v1/chat/completions", {}), turn, state, Answer())
    assert row["release"] == "r2"
    assert any(t.stage == "release" and "r2 (pilot)" in t.note for t in state.timings)


def test_the_cache_never_shares_an_answer_between_releases(settings) -> None:
    cache = Cache(
        None,
        settings.cache,
        None,
        GuardrailsConfig(enabled=False),  # type: ignore[arg-type]
        PromptRecord("grounded_answer", 1),
    )
    turn = _turn(settings, "alice")
    none, r1, r2 = (cache.scope_and_text(turn, None, r)[0] for r in (None, "r1", "r2"))
    assert len({none, r1, r2}) == 3
    assert cache.scope_and_text(turn, None, "r1")[0] == r1
