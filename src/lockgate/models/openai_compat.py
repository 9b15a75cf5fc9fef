"""Any OpenAI-compatible chat upstream: vLLM, Ollama, llama.cpp server or a hosted API."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncGenerator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from lockgate.config import ModelSpec
from lockgate.models.base import (
    ChatBackend,
    ChatDelta,
    ChatRequest,
    ChatResult,
    UpstreamError,
    Usage,
)
from lockgate.models.error_text import body_detail, transport_detail


def api_key(env_name: str | None) -> str | None:
    return os.environ.get(env_name) if env_name else None


_POOL_CONNECTIONS = 128


def timeouts(spec: ModelSpec) -> httpx.Timeout:
    return httpx.Timeout(spec.read_timeout_s, connect=spec.connect_timeout_s)


def retry_after_s(resp: httpx.Response) -> float | None:
    """`Retry-After` in seconds (delta or HTTP date), or None when absent or unreadable."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _status_error(name: str, resp: httpx.Response) -> UpstreamError:
    return UpstreamError(
        f"upstream '{name}' returned {resp.status_code}",
        upstream_status=resp.status_code,
        retry_after=retry_after_s(resp),
        detail=body_detail(resp),
    )


class OpenAICompatModel(ChatBackend):
    backend = "openai"

    def __init__(self, name: str, spec: ModelSpec) -> None:
        if not spec.base_url:
            raise ValueError(f"model '{name}': base_url is required for the openai backend")
        self.name = name
        self.spec = spec
        headers = {"content-type": "application/json"}
        key = api_key(spec.api_key_env)
        if key:
            headers["authorization"] = f"Bearer {key}"
        # Keep as many idle connections as requests may be in flight (the deployment's own
        # limit, 64 by default, sits above this): with httpx's default of 20, a gateway at
        # concurrency 32 closed and reopened upstream connections all the time.
        inflight = _POOL_CONNECTIONS
        self._client = httpx.AsyncClient(
            base_url=spec.base_url,
            headers=headers,
            timeout=timeouts(spec),
            limits=httpx.Limits(
                max_connections=inflight, max_keepalive_connections=inflight, keepalive_expiry=30
            ),
        )

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.spec.upstream_model or self.name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "stream": stream,
        }
        for key in ("temperature", "top_p", "seed"):
            value = getattr(request, key)
            if value is not None:
                body[key] = value
        if request.stop:
            body["stop"] = request.stop
        if stream:
            body["stream_options"] = {"include_usage": True}
        body.update(request.extra)
        return body

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            resp = await self._client.post("/chat/completions", json=self._body(request, False))
        except httpx.TimeoutException as exc:
            raise UpstreamError(
                f"upstream '{self.name}' timed out", status=504, retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            # The exception's text can quote the URL, credentials and all: trace only.
            raise UpstreamError(
                f"upstream '{self.name}' unreachable", retryable=True, detail=transport_detail(exc)
            ) from exc
        if resp.status_code >= 400:
            raise _status_error(self.name, resp)
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish = choice.get("finish_reason") or "stop"
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(
                f"upstream '{self.name}' sent a malformed response", retryable=False
            ) from exc
        u = data.get("usage") or {}
        usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        return ChatResult(text, finish, usage)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        body = self._body(request, True)
        connected = False
        try:
            async with self._client.stream("POST", "/chat/completions", json=body) as resp:
                connected = True
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _status_error(self.name, resp)
                finished = False
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        finished = True
                        break
                    delta = _parse_chunk(payload, self.name)
                    if delta is not None:
                        yield delta
                if not finished:
                    raise UpstreamError(
                        f"upstream '{self.name}' ended the stream early", retryable=True
                    )
        except httpx.TimeoutException as exc:
            raise UpstreamError(
                f"upstream '{self.name}' timed out", status=504, retryable=True
            ) from exc
        except httpx.HTTPError as exc:
            # Failing to connect is not a broken stream: say which one it was. Either may be
            # retried by the resilience layer, which alone knows whether tokens went out.
            what = "failed mid-stream" if connected else "unreachable"
            raise UpstreamError(
                f"upstream '{self.name}' {what}", retryable=True, detail=transport_detail(exc)
            ) from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_chunk(payload: str, name: str) -> ChatDelta | None:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise UpstreamError(f"upstream '{name}' sent a malformed stream chunk") from exc
    usage = None
    if data.get("usage"):
        u = data["usage"]
        usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
    choices = data.get("choices") or []
    if not choices:
        return ChatDelta(usage=usage) if usage else None
    choice = choices[0]
    text = (choice.get("delta") or {}).get("content") or ""
    return ChatDelta(text=text, finish_reason=choice.get("finish_reason"), usage=usage)
