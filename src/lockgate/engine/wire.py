"""The OpenAI wire format. Request bodies are validated strictly: an argument we would silently
ignore is rejected instead, so a client never believes a setting took effect when it did not.
Response bodies are built from a turn's Reply in `replies.py`."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lockgate.engine.errors import GatewayError

T = TypeVar("T", bound=BaseModel)

# Ids and seeds end up in SQL and upstream JSON as 64-bit integers; larger ones are refused here.
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
DocumentIds = Annotated[list[Annotated[int, Field(ge=0, le=2**63 - 1)]], Field(max_length=1000)]


class WireBody(BaseModel):
    # strict: JSON gives every value its type, so "3" where a number belongs is the client's
    # error, not something to guess at (query strings are parsed lax, see parse_body).
    model_config = ConfigDict(extra="forbid", strict=True)


# OpenAI's own rule for function names; upstreams refuse anything else.
ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
MAX_TOOLS = 128  # OpenAI's limit on `tools`


class FunctionIn(WireBody):
    name: ToolName
    description: str | None = None
    # A JSON Schema object; its contents are the upstream's to judge.
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(WireBody):
    type: Literal["function"]
    function: FunctionIn


class FunctionCallIn(WireBody):
    name: ToolName
    arguments: str


class ToolCallIn(WireBody):
    """A call an earlier assistant turn made, sent back as part of the conversation."""

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"]
    function: FunctionCallIn


class NamedFunction(WireBody):
    name: ToolName


class ToolChoiceFunction(WireBody):
    type: Literal["function"]
    function: NamedFunction


TOOL_CHOICE_MODES = ("none", "auto", "required")


class ChatMessageIn(WireBody):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None
    name: str | None = None
    # Assistant turns that called tools, and the `tool` messages answering them.
    tool_calls: list[ToolCallIn] | None = Field(None, min_length=1, max_length=MAX_TOOLS)
    tool_call_id: str | None = Field(None, min_length=1, max_length=256)
    # What OpenAI returns on every assistant message, so a client sending a reply back as
    # it received it (`message.model_dump()`) is not refused. Only their empty forms: a
    # value would be something this gateway does not relay.
    refusal: str | None = None
    annotations: list[dict[str, Any]] | None = Field(None, max_length=0)
    audio: None = None
    function_call: None = None

    @model_validator(mode="before")
    @classmethod
    def _tool_call_turn_may_omit_content(cls, data: Any) -> Any:
        # OpenAI accepts an assistant turn of only tool calls without `content`.
        if isinstance(data, dict) and data.get("tool_calls") and "content" not in data:
            return {**data, "content": None}
        return data

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
    # A registry prompt to answer with: "name@label" or "name@N" (a version number).
    prompt: str | None = Field(None, min_length=1, max_length=200)


class ChatCompletionIn(WireBody):
    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    tools: list[ToolIn] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None
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
# (The legacy `functions` API was replaced by `tools`, which is supported.)
UNSUPPORTED = {
    "functions",
    "function_call",
    "logprobs",
    "top_logprobs",
    "response_format",
    "logit_bias",
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


def _union_member(part: str | int) -> bool:
    """Whether a pydantic error location part names a member of a union type (`str`,
    `literal['none','auto']`, `ToolChoiceFunction`) rather than a field: the caller's
    `param` is the field's path, which never has those."""
    if isinstance(part, int):
        return False
    return part in _TYPE_TAGS or "[" in part or part in _wire_models()


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list"})


def _path(loc: tuple[str | int, ...]) -> list[str | int]:
    return [p for p in loc if not _union_member(p)]


def _wire_models() -> set[str]:
    names: set[str] = set()
    todo: list[type[BaseModel]] = [WireBody]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


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
        errors = exc.errors()
        first = _path(errors[0]["loc"])
        # A value that fits no member of a union fails once per member; the member that got
        # furthest (a dict for the object form of tool_choice) says what is actually wrong.
        err = max(
            (e for e in errors if _path(e["loc"])[: len(first)] == first),
            key=lambda e: len(_path(e["loc"])),
        )
        loc = ".".join(str(p) for p in _path(err["loc"]))
        msg = "unrecognized request argument" if err["type"] == "extra_forbidden" else err["msg"]
        code = "unknown_parameter" if err["type"] == "extra_forbidden" else "invalid_value"
        if err["type"] == "missing":
            code = "missing_required_parameter"
        raise GatewayError(400, f"{loc}: {msg}", code, loc) from None
