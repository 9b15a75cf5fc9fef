"""The OpenAI-compatible chat and embedding clients never put what the transport or the
upstream said into the message a caller gets: a transport error whose text names the URL
(with its `?api-key=`) and an upstream 500 body holding a password stay in `detail`, and
the URLs kept there lose their credentials."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from lockgate.config import EmbeddingSpec, ModelSpec
from lockgate.models.base import ChatRequest, Message, UpstreamError
from lockgate.models.openai_compat import OpenAICompatModel
from lockgate.models.openai_embed import OpenAIEmbedder

BASE = "http://bob:USERINFOSECRET@upstream.internal:8000/v1?api-key=QUERYSECRET"
SECRETS = ("USERINFOSECRET", "QUERYSECRET")
REQUEST = ChatRequest(messages=[Message("user", "hi")], max_tokens=8)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)


def _leak(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, json={"error": {"message": "db password=hunter2 failed"}})


def _chat(handler: Callable[[httpx.Request], httpx.Response]) -> OpenAICompatModel:
    model = OpenAICompatModel("up", ModelSpec(backend="openai", base_url=BASE))
    model._client = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(handler))
    return model


def _embedder(handler: Callable[[httpx.Request], httpx.Response]) -> OpenAIEmbedder:
    embedder = OpenAIEmbedder(EmbeddingSpec(backend="openai", base_url=BASE, upstream_model="e"))
    embedder._client = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    return embedder


def _clean(err: UpstreamError) -> None:
    assert not any(s in str(err) for s in SECRETS), str(err)
    assert "hunter2" not in str(err) and "upstream.internal" not in str(err)
    assert not any(s in (err.detail or "") for s in SECRETS), err.detail


async def _stream(model: OpenAICompatModel) -> None:
    async for _ in model.stream(REQUEST):
        pass


@pytest.mark.parametrize("call", ["complete", "stream"])
def test_chat_transport_error_text_stays_out_of_the_message(call: str) -> None:
    model = _chat(_refuse)
    run = model.complete(REQUEST) if call == "complete" else _stream(model)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(run)  # type: ignore[arg-type]
    _clean(err.value)
    assert "unreachable" in str(err.value) and "cannot connect" in (err.value.detail or "")


@pytest.mark.parametrize("call", ["complete", "stream"])
def test_chat_upstream_error_body_is_detail_only(call: str) -> None:
    model = _chat(_leak)
    run = model.complete(REQUEST) if call == "complete" else _stream(model)
    with pytest.raises(UpstreamError) as err:
        asyncio.run(run)  # type: ignore[arg-type]
    _clean(err.value)
    assert "500" in str(err.value) and "hunter2" in (err.value.detail or "")


@pytest.mark.parametrize("handler", [_refuse, _leak])
def test_embedding_errors_keep_urls_and_bodies_out_of_the_message(handler) -> None:
    with pytest.raises(UpstreamError) as err:
        _embedder(handler).embed(["hi"])
    _clean(err.value)
    if handler is _leak:
        assert err.value.upstream_status == 500 and "hunter2" in (err.value.detail or "")
