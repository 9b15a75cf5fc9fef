"""LLM-as-judge faithfulness: a configured model scores how much of an answer the retrieved
context supports, with a registry prompt (`faithfulness_judge`, seeded from
`prompts/packaged/faithfulness_judge.yaml` as version 1, label `production`).

Like any registry prompt it is versioned, labelled and rolled back with `lockgate prompts`, and
`lockgate eval run --judge-prompt NAME@LABEL` picks another one; an experiment records which
version judged it. The template renders in Jinja's sandbox (the context is document text and
must not reach Python objects). The judge replies with a number between 0 and 1; a reply
without one scores nothing (None), never 0, so a confused judge does not read as an unfaithful
answer."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lockgate.models.base import ChatRequest, Message
from lockgate.prompts.spec import parse_ref

if TYPE_CHECKING:
    from lockgate.prompts.resolver import PromptResolver, ResolvedPrompt
    from lockgate.upstreams.registry import ModelRegistry

__all__ = ["JUDGE_PROMPT", "judge_faithfulness", "parse_score", "resolve_judge_prompt"]

JUDGE_PROMPT = "faithfulness_judge@production"
_NUMBER = re.compile(r"(?<![\d.])(?:0?\.\d+|[01](?:\.\d+)?)(?![\d.])")
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_NEEDS = ("question", "context", "answer")


def resolve_judge_prompt(resolver: PromptResolver, ref: str = JUDGE_PROMPT) -> ResolvedPrompt:
    """The registry prompt `ref` ("name@label" or "name@N"). PromptNotFound when it does not
    exist; ValueError when it cannot be a judge prompt (a variable other than the question,
    the context and the answer)."""
    name, label, version = parse_ref(ref)
    resolved = resolver.resolve(name, label=label or ("production" if version is None else None),
                                version=version)
    extra = [v for v in resolved.spec.variables if v not in _NEEDS]
    if extra:
        raise ValueError(
            f"prompt '{ref}' cannot judge: it declares {', '.join(extra)}; a judge prompt may "
            f"use only {', '.join(_NEEDS)}"
        )
    return resolved


def parse_score(reply: str) -> float | None:
    """The judge's number: a share (0.75, .5, 1) or a percentage (75%), clamped to [0, 1]."""
    pct = _PERCENT.search(reply)
    if pct:
        return min(1.0, max(0.0, float(pct.group(1)) / 100))
    m = _NUMBER.search(reply)
    return None if m is None else min(1.0, max(0.0, float(m.group(0))))


async def judge_faithfulness(
    models: ModelRegistry,
    model: str,
    prompt_spec: ResolvedPrompt,
    question: str,
    context: list[str],
    answer: str,
) -> float | None:
    """The judge model's score of `answer` against `context` (None: no usable reply). Its
    failures propagate (UpstreamError): the runner records them on the case."""
    values = {"question": question, "context": context, "answer": answer}
    # The context goes in as a list (the template numbers the chunks); the spec's renderer
    # inserts every value as data, never as template text.
    prompt = prompt_spec.spec.render(**{k: values[k] for k in prompt_spec.spec.variables})  # type: ignore[arg-type]
    request = ChatRequest(
        messages=[Message("user", prompt)], max_tokens=8, temperature=0.0, raw_prompt=prompt
    )
    result = await models.get(model).complete(request)
    return parse_score(result.text)
