"""LLM-as-judge faithfulness: a configured model scores how much of an answer the retrieved
context supports, with the packaged prompt `prompts/builtin/faithfulness_judge.yaml`.

The prompt is a YAML file with `name`, `template` (Jinja, rendered sandboxed: the context is
document text, and must not be able to reach Python objects) and `variables`. `load_prompt`
is the one place that reads it, so that it can move to the prompt registry unchanged. The
judge replies with a number between 0 and 1; a reply without one scores nothing (None),
never 0, so a confused judge does not read as an unfaithful answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from lockgate.models.base import ChatRequest, Message

if TYPE_CHECKING:
    from lockgate.upstreams.registry import ModelRegistry

__all__ = ["JudgePrompt", "judge_faithfulness", "load_prompt", "parse_score"]

JUDGE_PROMPT = "faithfulness_judge"
_NUMBER = re.compile(r"(?<![\d.])(?:0?\.\d+|[01](?:\.\d+)?)(?![\d.])")
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    template: str
    variables: tuple[str, ...]

    def render(self, **values: Any) -> str:
        from jinja2.sandbox import SandboxedEnvironment

        missing = [v for v in self.variables if v not in values]
        if missing:
            raise ValueError(f"prompt '{self.name}' needs {', '.join(missing)}")
        env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
        return env.from_string(self.template).render(**values)


@cache
def load_prompt(name: str = JUDGE_PROMPT) -> JudgePrompt:
    """A packaged prompt by name (`prompts/builtin/NAME.yaml`)."""
    path = resources.files("lockgate.prompts").joinpath("builtin", f"{name}.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyError(f"no packaged prompt named '{name}'") from None
    if not isinstance(data, dict) or not isinstance(data.get("template"), str):
        raise ValueError(f"packaged prompt '{name}' has no template")
    variables = data.get("variables") or []
    return JudgePrompt(str(data.get("name") or name), data["template"], tuple(map(str, variables)))


def parse_score(reply: str) -> float | None:
    """The judge's number: a share (0.75, .5, 1) or a percentage (75%), clamped to [0, 1]."""
    pct = _PERCENT.search(reply)
    if pct:
        return min(1.0, max(0.0, float(pct.group(1)) / 100))
    m = _NUMBER.search(reply)
    return None if m is None else min(1.0, max(0.0, float(m.group(0))))


async def judge_faithfulness(
    models: ModelRegistry, model: str, question: str, context: list[str], answer: str
) -> float | None:
    """The judge model's score of `answer` against `context` (None: no usable reply). Its
    failures propagate (UpstreamError): the runner records them on the case."""
    prompt = load_prompt().render(question=question, context=context, answer=answer)
    request = ChatRequest(
        messages=[Message("user", prompt)], max_tokens=8, temperature=0.0, raw_prompt=prompt
    )
    result = await models.get(model).complete(request)
    return parse_score(result.text)
