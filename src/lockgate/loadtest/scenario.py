"""What a load test sends: chat completion requests, encoded once before the run so the
generator spends no time building them.

A scenario file is JSONL, one request per line, either a whole chat completion body
(`{"model": ..., "messages": [...]}`) or a question (`{"question": "..."}`, or the gold set's
`{"input": "..."}`) asked of the grounded `lockgate` model. Requests are always streamed,
so the time to first token is measured; they are sent in file order, round and round."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.loadtest.questions import QUESTIONS

DEFAULT_MODEL = "lockgate"
PATH = "/v1/chat/completions"


class ScenarioError(ValueError):
    """A scenario file that cannot be used, naming the line."""


@dataclass(frozen=True)
class Scenario:
    name: str
    bodies: tuple[bytes, ...]  # encoded request bodies, each with "stream": true


def _body(item: dict[str, Any], model: str, max_tokens: int | None) -> bytes:
    body = dict(item)
    body.setdefault("model", model)
    body["stream"] = True
    if max_tokens is not None:
        body.setdefault("max_tokens", max_tokens)
    return json.dumps(body, separators=(",", ":")).encode()


def _question(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def default_scenario(model: str = DEFAULT_MODEL, max_tokens: int | None = None) -> Scenario:
    bodies = tuple(_body(_question(q), model, max_tokens) for q in QUESTIONS)
    return Scenario("gold set questions", bodies)


def _item(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a JSON object")
    if "messages" in data:
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            raise ScenarioError(f"{where}: 'messages' must be a non-empty list")
        return data
    for key in ("question", "input"):
        text = data.get(key)
        if isinstance(text, str) and text.strip():
            return _question(text)
        if isinstance(text, list) and text:  # a multi-turn gold case: the messages
            return {"messages": text}
    raise ScenarioError(f"{where}: needs 'messages', 'question' or 'input'")


def load_scenario(
    path: Path, model: str = DEFAULT_MODEL, max_tokens: int | None = None
) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from None
    bodies = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise ScenarioError(f"{where}: not JSON ({exc})") from None
        bodies.append(_body(_item(data, where), model, max_tokens))
    if not bodies:
        raise ScenarioError(f"{path}: no requests in the file")
    return Scenario(path.name, tuple(bodies))
