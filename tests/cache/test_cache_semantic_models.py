"""Semantic matching of pass-through requests is per model and opt-in, through the live
gateway: a model that did not opt in gets exact hits only and its requests are never
embedded (the stored entry has no vector); a model named in `cache.semantic_models` gets
paraphrase hits; a name that is not a model stops start-up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lockgate.config import ConfigError, Settings
from lockgate.gateway.app import create_app
from lockgate.store import tables as tb
from tests.conftest import make_services, make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve

QUESTION = "Is support available by email on weekdays?"
PARAPHRASE = "Can you tell me if support is available by email on weekdays"


@pytest.fixture(scope="module")
def gw(tmp_path_factory, embedder) -> Iterator[tuple[str, Any]]:
    with serve(create_fake_upstream()) as up:
        home = tmp_path_factory.mktemp("semantic-models")
        base = make_settings(home, up + "/v1")
        models = {**base.models, "echo-semantic": base.models["echo"]}
        settings = Settings(  # type: ignore[call-arg]
            home=home,
            models=models,
            guardrails={"enabled": False},
            auth={"allow_anonymous": True},
            cache={"enabled": True, "semantic_models": ["echo-semantic"]},
        )
        services = make_services(settings, embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as url:
            yield url, services


def ask(base: str, content: str, model: str) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    resp = httpx.post(base + "/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _embedding_stored(services: Any, model: str) -> list[bool]:
    t = tb.cache_entries
    with services.engine.connect() as conn:
        rows = conn.execute(select(t.c.embedding).where(t.c.model == model)).all()
    return [row.embedding is not None for row in rows]


def test_a_model_that_did_not_opt_in_gets_exact_hits_and_no_embedding(gw) -> None:
    base, services = gw
    ask(base, QUESTION, "echo")
    assert ask(base, QUESTION, "echo")["lockgate"]["cache"] == {"hit": True, "kind": "exact"}
    assert "cache" not in ask(base, PARAPHRASE, "echo")["lockgate"]
    assert _embedding_stored(services, "echo") == [False, False]


def test_a_model_named_in_semantic_models_gets_paraphrase_hits(gw) -> None:
    base, services = gw
    ask(base, QUESTION, "echo-semantic")
    para = ask(base, PARAPHRASE, "echo-semantic")
    assert para["lockgate"]["cache"] == {"hit": True, "kind": "semantic"}
    assert _embedding_stored(services, "echo-semantic") == [True]


def test_an_unknown_model_in_semantic_models_is_a_config_error(tmp_path) -> None:
    with pytest.raises((ConfigError, ValueError), match="cache.semantic_models: unknown model"):
        Settings(home=tmp_path, cache={"semantic_models": ["no-such-model"]})  # type: ignore[call-arg]
