"""Token counts without a tokenizer, and the price of a call: one definition of each.

Used wherever a number is needed before (or without) the backend's own count: admission,
routing, budgets, reports. Nothing here knows about requests, models or configuration.
"""

from __future__ import annotations

import math

# Role markers and separators a chat template adds around each message.
_TOKENS_PER_MESSAGE = 8


def estimate_tokens(text: str) -> int:
    """A typical count: about 4 characters per token for English, and never 0."""
    return max(1, (len(text) + 3) // 4)


def tokens_upper_bound(text: str, chars_per_token: float, messages: int) -> int:
    """A generous count, for holding capacity or money before the real usage is known:
    `chars_per_token` below the typical 4 makes it err high, and every message adds its
    template overhead (a request counts as at least one message)."""
    return math.ceil(len(text) / chars_per_token) + _TOKENS_PER_MESSAGE * max(1, messages)


def cost(tokens_in: int, tokens_out: int, price_in_per_1k: float, price_out_per_1k: float) -> float:
    """What a call costs at prices per 1000 prompt and completion tokens."""
    return (tokens_in * price_in_per_1k + tokens_out * price_out_per_1k) / 1000
