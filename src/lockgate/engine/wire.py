"""The OpenAI wire format. Request bodies are validated strictly: an argument we would silently
ignore is rejected instead, so a client never believes a setting took effect when it did not.
Response bodies are built from a turn's Reply in `replies.py`."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lockgate.engine.errors import GatewayError

T = TypeVar("T", bound=BaseModel)

# Ids and seeds end up in SQL and upstream JSON as 64-bit integers; larger ones are refused here.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
DocumentIds = Annotated[list[Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(max_length=1000)]


class WireBody(BaseModel):
    # strict: JSON gives every value its type, so "3" where a number belongs is the client's
    # error, not something to guess at (query strings are parsed lax, see parse_body).
    model_config = ConfigDict(extra="forbid", strict=True)


class ChatMessageIn(WireBody):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]] | None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise GatewayError(
                    400, "only text content parts are supported", "unsupported_content", "messages"
                )
            parts.append(part["text"])
        return "\n".join(parts)


MAX_STOP_CHARS = 256


class StreamOptions(WireBody):
    include_usage: bool = False


class LockgateOptions(WireBody):
    """Lockgate's own request extension (ignored by other servers): retrieval controls."""

    k: int | None = Field(None, ge=1, le=50)
    source_prefix: str | None = Field(None, max_length=4096)
    document_ids: DocumentIds | None = None
    # `cache: false` skips the response cache; `route` forces a routing tier ("small" /
    # "large") or one of the route's two model names.
    cache: bool | None = None
    route: str | None = None


class ChatCompletionIn(WireBody):
    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: Int64 | None = None
    n: int | None = Field(None, ge=1, le=1)
    user: str | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    metadata: dict[str, str] | None = None
    lockgate: LockgateOptions | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        # Every backend checks stops against the growing output: a long one costs each token.
        for stop in [v] if isinstance(v, str) else v or []:
            if len(stop) > MAX_STOP_CHARS:
                raise ValueError(f"a stop sequence is at most {MAX_STOP_CHARS} characters")
        return v

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class EmbeddingsIn(WireBody):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
    dimensions: int | None = None


class SearchIn(WireBody):
    query: str = Field(min_length=1, max_length=10_000)
    k: int | None = Field(None, ge=1, le=100)
    source_prefix: str | None = Field(None, max_length=4096)
    document_ids: DocumentIds | None = None


# Arguments clients send that we deliberately do not support: named so the error says so.
UNSUPPORTED = {
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "logprobs",
    "top_logprobs",
    "response_format",
    "logit_bias",
    "parallel_tool_calls",
    "audio",
    "modalities",
    "prediction",
}


def has_lone_surrogate(value: Any) -> bool:
    """json.loads accepts escapes like "\\ud800" that no UTF-8 store, tokenizer or upstream can
    take (the tokenizer raised TypeError: a 500); bodies holding one are refused at the edge."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_body(model: type[T], data: Any, strict: bool = True) -> T:
    if not isinstance(data, dict):
        raise GatewayError(400, "request body must be a JSON object", "invalid_body")
    for key in data:
        if key in UNSUPPORTED and data[key] not in (None, False):
            raise GatewayError(
                400, f"'{key}' is not supported by this gateway", "unsupported_parameter", key
            )
    # What is left of those is null or false (a client's default): accepted, it asks for nothing.
    data = {k: v for k, v in data.items() if k not in UNSUPPORTED}
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = "unrecognized request argument" if err["type"] == "extra_forbidden" else err["msg"]
        code = "unknown_parameter" if err["type"] == "extra_forbidden" else "invalid_value"
        if err["type"] == "missing":
            code = "missing_required_parameter"
        raise GatewayError(400, f"{loc}: {msg}", code, loc) from None
