"""Token counts without a tokenizer, and the price of a call: one definition of each.

Used wherever a number is needed before (or without) the backend's own count: admission,
routing, budgets, reports. Nothing here knows about requests, models or configuration.
"""

from __future__ import annotations

import math

# Role markers and separators a chat template adds around each message.
_TOKENS_PER_MESSAGE = 8


# No tokenizer in use makes a token out of more characters than this: a count that is never
# above the real one, cheap enough to reject a megabyte prompt before tokenizing it.
_MAX_CHARS_PER_TOKEN = 8


def tokens_for_chars(chars: int) -> int:
    """A typical count: about 4 characters per token for English, and never 0."""
    return max(1, (chars + 3) // 4)


def estimate_tokens(text: str) -> int:
    return tokens_for_chars(len(text))


def tokens_lower_bound(text: str) -> int:
    return len(text) // _MAX_CHARS_PER_TOKEN


def chars_upper_bound(chars: int, chars_per_token: float) -> int:
    """A generous count for `chars` characters: `chars_per_token` below the typical 4 makes
    it err high."""
    return math.ceil(chars / chars_per_token)


def tokens_upper_bound(text: str, chars_per_token: float, messages: int) -> int:
    """A generous count, for holding capacity or money before the real usage is known; every
    message adds its template overhead (a request counts as at least one message)."""
    return chars_upper_bound(len(text), chars_per_token) + _TOKENS_PER_MESSAGE * max(1, messages)


def cost(tokens_in: int, tokens_out: int, price_in_per_1k: float, price_out_per_1k: float) -> float:
    """What a call costs at prices per 1000 prompt and completion tokens."""
    return (tokens_in * price_in_per_1k + tokens_out * price_out_per_1k) / 1000
