"""A release's prompt pin through the prompt registry: the pilot's callers answer with the
pinned version and everyone else with the production label, the trace names both the release
and the prompt version, a request's own pin wins over the release's, and a release pinning a
version the registry does not have is refused when it is created."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lockgate.config import ModelSpec
from lockgate.engine.run import Engine, Reply
from lockgate.engine.turn import Call, Principal
from lockgate.ingest.pipeline import Ingestor
from lockgate.prompts.spec import PromptSpec
from lockgate.releases.model import ReleaseError
from lockgate.services import Services
from tests.conftest import make_services, make_settings

QUESTION = "How long is the refund window for annual plans?"
PILOT = Principal(id="pia", roles=("developer",))
OTHER = Principal(id="otto", roles=("developer",))
V2 = PromptSpec(
    name="grounded_answer",
    template="RELEASE TWO\n{{ sources }}\nQ: {{ question }}\n",
    variables=["sources", "question"],
)


@pytest.fixture
def services(tmp_path: Path, embedder) -> Services:
    base = make_settings(tmp_path / "home", None)
    grounded = base.grounded.model_copy(update={"model": "mock-echo"})
    settings = base.model_copy(
        update={
            "models": {**base.models, "mock-echo": ModelSpec.model_validate({"backend": "mock"})},
            "grounded": grounded,
        }
    )
    svc = make_services(settings, embedder)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nAnnual plans: a full refund within 30 days.\n")
    Ingestor(svc.documents, svc.runs, svc.embedder, svc.settings.ingest).run([str(docs)])
    return svc


def ask(engine: Engine, who: Principal, **extra: Any) -> Reply:
    body = {"model": "lockgate", "messages": [{"role": "user", "content": QUESTION}], **extra}
    return asyncio.run(engine.run_turn(Call("/v1/chat/completions", body, principal=who)))


def test_the_pilot_answers_with_the_releases_prompt_version(services: Services) -> None:
    pushed = services.prompt_store.push(V2.name, V2.hash, V2.canonical(), "dev")
    admin = services.release_admin
    admin.create("r2", "ops", prompts={"grounded_answer": pushed.seq})
    admin.promote("r2", "pilot", "ops", pilot=["pia"])
    engine = Engine(services)

    piloted = ask(engine, PILOT)
    assert piloted.error is None, piloted.error
    assert piloted.state.prompt is not None and piloted.state.prompt.version == pushed.seq
    assert piloted.state.prompt_text is not None
    assert piloted.state.prompt_text.startswith("RELEASE TWO")
    trace = services.traces.get(piloted.call.trace_id)
    assert trace is not None
    assert (trace["release"], trace["prompt_version"]) == ("r2", pushed.seq)

    other = ask(engine, OTHER)
    assert other.error is None and other.state.prompt is not None
    assert (other.state.prompt.version, other.state.prompt.label) == (1, "production")
    assert services.traces.get(other.call.trace_id)["release"] is None  # type: ignore[index]

    # The caller's own pin (which its role allows) wins over its release's.
    own = ask(engine, PILOT, lockgate={"prompt": "grounded_answer@production"})
    assert own.error is None and own.state.prompt is not None
    assert own.state.prompt.version == 1


def test_a_release_of_an_unknown_prompt_version_is_refused(services: Services) -> None:
    with pytest.raises(ReleaseError, match="has no version 7 in the registry"):
        services.release_admin.create("bad", "ops", prompts={"grounded_answer": 7})
    with pytest.raises(ReleaseError, match="prompt 'ghost' has no version 1"):
        services.release_admin.create("bad", "ops", prompts={"ghost": 1})
    assert services.releases.get("bad") is None
