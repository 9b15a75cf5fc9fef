"""Any OpenAI-compatible chat upstream: vLLM, Ollama, llama.cpp server or a hosted API."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncGenerator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from lockgate import jsoncodec
from lockgate.config import ModelSpec
from lockgate.models.base import (
    ChatBackend,
    ChatDelta,
    ChatRequest,
    ChatResult,
    Message,
    ToolCall,
    ToolCallDelta,
    UpstreamError,
    Usage,
)
from lockgate.models.error_text import content_detail
from lockgate.models.upstream_http import (
    AiohttpExchange,
    Exchange,
    HttpxExchange,
    Reply,
    TransportFailure,
    TransportTimeout,
    endpoint_url,
)

_PATH = "chat/completions"


def api_key(env_name: str | None) -> str | None:
    return os.environ.get(env_name) if env_name else None


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds (delta or HTTP date), or None when absent or unreadable."""
    value = headers.get("retry-after")
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


def _status_error(name: str, reply: Reply) -> UpstreamError:
    return UpstreamError(
        f"upstream '{name}' returned {reply.status}",
        upstream_status=reply.status,
        retry_after=retry_after_s(reply.headers),
        detail=content_detail(reply.content, reply.headers.get("content-type")),
    )


def _encode(body: dict[str, Any]) -> bytes:
    encoded = jsoncodec.dumps(body)
    if encoded is None:  # what orjson cannot write: httpx's encoding, as before
        encoded = json.dumps(
            body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    return encoded


def _message(m: Message) -> dict[str, Any]:
    out = m.as_dict()
    if m.tool_calls and not m.content:
        out["content"] = None  # what OpenAI itself sends for a turn that only called tools
    return out


def _tool_calls(raw: Any) -> list[ToolCall]:
    """The `message.tool_calls` of a completion; a shape that is not OpenAI's is a malformed
    response (raised as TypeError/KeyError, reported by the caller)."""
    if raw is None:
        return []
    calls = []
    for item in raw:
        function = item["function"]
        name, arguments = function["name"], function.get("arguments") or ""
        if not isinstance(item["id"], str) or not isinstance(name, str):
            raise TypeError("tool call id and name must be strings")
        if not isinstance(arguments, str):
            raise TypeError("tool call arguments must be a string")
        calls.append(ToolCall(item["id"], name, arguments, item.get("type") or "function"))
    return calls


def _tool_call_deltas(raw: Any) -> list[ToolCallDelta]:
    out = []
    for item in raw:
        function = item.get("function") or {}
        delta = ToolCallDelta(
            index=item["index"],
            id=item.get("id"),
            name=function.get("name"),
            arguments=function.get("arguments"),
            type=item.get("type"),
        )
        for value in (delta.id, delta.name, delta.arguments, delta.type):
            if value is not None and not isinstance(value, str):
                raise TypeError("tool call fields must be strings")
        if not isinstance(delta.index, int) or isinstance(delta.index, bool) or delta.index < 0:
            raise TypeError("tool call index must be a non-negative integer")
        out.append(delta)
    return out


class OpenAICompatModel(ChatBackend):
    backend = "openai"
    supports_tools = True

    def __init__(self, name: str, spec: ModelSpec) -> None:
        if not spec.base_url:
            raise ValueError(f"model '{name}': base_url is required for the openai backend")
        self.name = name
        self.spec = spec
        headers = {"content-type": "application/json"}
        key = api_key(spec.api_key_env)
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._exchange: Exchange = AiohttpExchange(
            str(endpoint_url(spec.base_url, _PATH)),
            headers,
            connect_s=spec.connect_timeout_s,
            read_s=spec.read_timeout_s,
        )

    @property
    def _client(self) -> httpx.AsyncClient | None:
        return self._exchange.client if isinstance(self._exchange, HttpxExchange) else None

    @_client.setter
    def _client(self, client: httpx.AsyncClient) -> None:
        """Send through this httpx client (its base_url the upstream's) instead: an
        application's own transport, or a test's mock one."""
        self._exchange = HttpxExchange(client, _PATH)

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.spec.upstream_model or self.name,
            "messages": [_message(m) for m in request.messages],
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
        if request.tools:
            body["tools"] = request.tools
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        body.update(request.extra)
        return body

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            reply = await self._exchange.post(_encode(self._body(request, False)))
        except TransportTimeout as exc:
            raise UpstreamError(
                f"upstream '{self.name}' timed out", status=504, retryable=True
            ) from exc
        except TransportFailure as exc:
            # The exception's text can quote the URL, credentials and all: trace only.
            raise UpstreamError(
                f"upstream '{self.name}' unreachable", retryable=True, detail=exc.detail
            ) from exc
        if reply.status >= 400:
            raise _status_error(self.name, reply)
        try:
            data = jsoncodec.loads(reply.content)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish = choice.get("finish_reason") or "stop"
            calls = _tool_calls(choice["message"].get("tool_calls"))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(
                f"upstream '{self.name}' sent a malformed response", retryable=False
            ) from exc
        u = data.get("usage") or {}
        usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0))
        return ChatResult(text, finish, usage, calls)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        body = _encode(self._body(request, True))
        connected = False
        try:
            async with self._exchange.stream(body) as resp:
                connected = True
                if resp.status >= 400:
                    content = await resp.read()
                    raise _status_error(self.name, Reply(resp.status, resp.headers, content))
                finished = False
                async for line in resp.lines():
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
        except TransportTimeout as exc:
            raise UpstreamError(
                f"upstream '{self.name}' timed out", status=504, retryable=True
            ) from exc
        except TransportFailure as exc:
            # Failing to connect is not a broken stream: say which one it was. Either may be
            # retried by the resilience layer, which alone knows whether tokens went out.
            what = "failed mid-stream" if connected else "unreachable"
            raise UpstreamError(
                f"upstream '{self.name}' {what}", retryable=True, detail=exc.detail
            ) from exc

    async def aclose(self) -> None:
        await self._exchange.aclose()


def _parse_chunk(payload: str, name: str) -> ChatDelta | None:
    try:
        data = jsoncodec.loads(payload)
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
    delta = choice.get("delta") or {}
    text = delta.get("content") or ""
    calls = None
    if delta.get("tool_calls"):
        try:
            calls = _tool_call_deltas(delta["tool_calls"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise UpstreamError(f"upstream '{name}' sent a malformed tool call chunk") from exc
    return ChatDelta(
        text=text, finish_reason=choice.get("finish_reason"), usage=usage, tool_calls=calls
    )
