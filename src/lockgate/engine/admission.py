"""What admission control (rate limits, budgets) estimates for a turn before it runs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lockgate.budget.limits import LimitKey
from lockgate.engine.turn import Principal, Turn
from lockgate.estimates import cost, tokens_upper_bound

if TYPE_CHECKING:
    from lockgate.config import Settings

# Ids end up in counter keys, metrics labels and logs: keep them short and printable.
_SAFE = re.compile(r"[^A-Za-z0-9._:@/+-]")


def clean_id(value: str | None, default: str) -> str:
    if not value:
        return default
    value = _SAFE.sub("_", value.strip())[:128]
    return value or default


def limit_key(principal: Principal, client: str | None, caller: str | None) -> LimitKey:
    """The rate-limit identity of a request. A credential's key id when one proved who it
    is; otherwise the socket's address, since an unauthenticated caller id is the client's
    to choose (a fresh one per request would be a fresh allowance). Without a socket (the
    batch worker, the CLI) the principal as recorded. The caller id header only subdivides."""
    sub = clean_id(caller, "") or None if caller else None
    if principal.authenticated:
        return LimitKey(principal.key_id or principal.id, (principal.id,), sub)
    if client:
        return LimitKey(f"ip:{client}", caller=sub)
    return LimitKey(principal.id, caller=sub)


def project_of(turn: Turn) -> str:
    return clean_id(turn.project or turn.app, "default")


def request_text(turn: Turn) -> str:
    if turn.prompt:
        return turn.prompt
    if turn.grounded:
        return turn.question
    return "\n".join(m.content for m in turn.messages)


def prompt_tokens_bound(turn: Turn, chars_per_token: float) -> int:
    """A generous estimate of the prompt's tokens, without a tokenizer pass: the reservation
    needs an upper bound more than precision (settling corrects it)."""
    return tokens_upper_bound(request_text(turn), chars_per_token, len(turn.messages))


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


def max_cost(turn: Turn, settings: Settings, chars_per_token: float) -> float:
    p_in, p_out = price_chain(settings, turn.backend_model)
    return cost(prompt_tokens_bound(turn, chars_per_token), turn.request.max_tokens, p_in, p_out)
