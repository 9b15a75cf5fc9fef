"""The review stage on its own, with a stand-in queue: a held answer is never released when
the queue cannot take it (503, fail closed), a delivered one goes out without a review mark,
a refusal is never held, and groundedness only applies to the grounded model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lockgate.config import ReviewConfig
from lockgate.engine.answer import Answer
from lockgate.engine.errors import GatewayError
from lockgate.engine.parse import parse_turn
from lockgate.engine.stages.review import REVIEW_ID_HEADER, ReviewGate
from lockgate.engine.state import TurnState
from lockgate.engine.turn import Call, Principal, Turn
from lockgate.guardrails.base import GuardResult, ScannerOutcome
from lockgate.services import Services
from lockgate.store.reviews import ReviewRecord
from tests.conftest import make_settings


class Queue:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.items: list[ReviewRecord] = []

    def submit(self, rec: ReviewRecord) -> ReviewRecord:
        if self.fail:
            raise RuntimeError("database is gone")
        self.items.append(rec)
        return rec


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return Services(make_settings(tmp_path / "home", "http://127.0.0.1:9/v1"))


def _turn(services: Services, model: str = "echo") -> Turn:
    body = {"model": model, "messages": [{"role": "user", "content": "about the lawsuit"}]}
    call = Call("/v1/chat/completions", body, principal=Principal("carol", "acme"))
    return parse_turn(call, services.settings, services.models)


def _escalated() -> TurnState:
    state = TurnState()
    outcome = ScannerOutcome("topic", "escalate", [], 0.1)
    state.guard.add(GuardResult("in", "escalate", [outcome], "about the lawsuit"), "messages[0]")
    return state


def _run(gate: ReviewGate, turn: Turn, state: TurnState, answer: Answer) -> Answer:
    async def inner(t: Turn, s: TurnState) -> Answer:
        return answer

    async def go() -> Answer:
        out = await gate(turn, state, inner)
        await out.complete()
        return out

    return asyncio.run(go())


def test_a_held_answer_fails_closed_when_the_queue_is_down(services: Services) -> None:
    gate = ReviewGate(Queue(fail=True), ReviewConfig(modes={"guardrail": "hold"}))
    with pytest.raises(GatewayError) as err:
        _run(gate, _turn(services), _escalated(), Answer(text="the secret answer"))
    assert err.value.status == 503 and err.value.code == "review_unavailable"


def test_a_delivered_answer_goes_out_when_the_queue_is_down(services: Services) -> None:
    gate = ReviewGate(Queue(fail=True), ReviewConfig())
    state = _escalated()
    out = _run(gate, _turn(services), state, Answer(text="fine answer"))
    assert out.text == "fine answer" and out.review is None
    assert REVIEW_ID_HEADER not in state.headers


def test_a_refusal_is_queued_but_never_held(services: Services) -> None:
    queue = Queue()
    gate = ReviewGate(queue, ReviewConfig(modes={"guardrail": "hold"}))
    out = _run(gate, _turn(services), _escalated(), Answer.refusal("Sorry."))
    assert out.text == "Sorry." and out.review is not None and out.review.mode == "deliver"
    [item] = queue.items
    assert item.kind == "guardrail" and item.principal == "carol" and item.tenant == "acme"
    assert item.question == "about the lawsuit"


def test_groundedness_only_for_the_grounded_model(services: Services) -> None:
    queue = Queue()
    cfg = ReviewConfig(groundedness_threshold=0.9, modes={"groundedness": "hold"})
    gate = ReviewGate(queue, cfg)
    out = _run(gate, _turn(services), TurnState(), Answer(text="x", groundedness=0.1))
    assert out.review is None and queue.items == []
    held = _run(gate, _turn(services, "lockgate"), TurnState(), Answer(text="x", groundedness=0.1))
    assert held.review is not None and held.review.mode == "hold"
    assert held.text.startswith("This answer is awaiting human review.")
    assert queue.items[0].answer == "x" and queue.items[0].kind == "groundedness"
