"""Who is calling, until API keys exist (security issue): a caller id header, else
"anonymous". Also the request's token and cost estimates used at admission time."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from lockgate.gateway.context import Principal, RequestContext

if TYPE_CHECKING:
    from lockgate.config import Settings

CALLER_HEADER = "x-lockgate-caller"
PROJECT_HEADER = "x-lockgate-project"
ANONYMOUS = "anonymous"

# Ids end up in counter keys, metrics labels and logs: keep them short and printable.
_SAFE = re.compile(r"[^A-Za-z0-9._:@/+-]")


def clean_id(value: str | None, default: str) -> str:
    if not value:
        return default
    value = _SAFE.sub("_", value.strip())[:128]
    return value or default


def principal_from_headers(headers: Mapping[str, str]) -> Principal:
    # The tenant is not taken from a header on purpose: it scopes cached answers and
    # documents, and an unauthenticated header must not be able to pick someone else's.
    return Principal(id=clean_id(headers.get(CALLER_HEADER), ANONYMOUS))


def project_of(ctx: RequestContext) -> str:
    meta = ctx.body.get("metadata") if isinstance(ctx.body, dict) else None
    from_body = meta.get("project") if isinstance(meta, dict) else None
    return clean_id(ctx.project or from_body or ctx.app, "default")


def request_text(ctx: RequestContext) -> str:
    if ctx.prompt:
        return ctx.prompt
    if ctx.grounded:
        return ctx.question
    return "\n".join(m.content for m in ctx.messages)


def prompt_tokens_bound(ctx: RequestContext, chars_per_token: float) -> int:
    """A generous estimate of the prompt's tokens, without a tokenizer pass: the reservation
    needs an upper bound more than precision (settling corrects it)."""
    text = request_text(ctx)
    per_message = 8 * max(1, len(ctx.messages))  # role markers and separators
    return math.ceil(len(text) / chars_per_token) + per_message


def max_tokens(ctx: RequestContext) -> int:
    return ctx.request.max_tokens if ctx.request is not None else 0


def price_chain(settings: Settings, model: str) -> tuple[float, float]:
    """The highest input and output price among a model and every model it may fall back to:
    the call stage may switch to a fallback, and the reservation must cover whichever runs."""
    seen: set[str] = set()
    todo = [model]
    p_in = p_out = 0.0
    while todo:
        name = todo.pop()
        if name in seen or name not in settings.models:
            continue
        seen.add(name)
        spec = settings.models[name]
        p_in, p_out = max(p_in, spec.price_input_per_1k), max(p_out, spec.price_output_per_1k)
        todo.extend(spec.fallbacks)
    return p_in, p_out


def max_cost(ctx: RequestContext, settings: Settings, chars_per_token: float) -> float:
    p_in, p_out = price_chain(settings, ctx.backend_model)
    return (prompt_tokens_bound(ctx, chars_per_token) * p_in + max_tokens(ctx) * p_out) / 1000
