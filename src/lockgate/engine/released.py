"""What a guarded stream has let through so far, kept as the next scans need it: the raw
tail that is scanned again in front of the next piece (so what straddles two pieces is
found), and everything before that tail squeezed for the canary check. It also says where
the text ready to go may not be cut yet."""

from __future__ import annotations

from lockgate.guardrails.canary import hold_from, squeeze
from lockgate.guardrails.continuation import TAIL_CHARS
from lockgate.guardrails.links import unfinished

# Squeezed characters kept for the canary: far more than a canary and its pieces need, and
# bounded so a long answer costs the same per piece as a short one.
TRAIL_CHARS = 8192


class Released:
    def __init__(self, canary: str | None) -> None:
        self.canary = canary
        self.tail = ""
        self.trail = ""

    def add(self, text: str) -> None:
        joined = self.tail + text
        if len(joined) > TAIL_CHARS:
            gone, joined = joined[:-TAIL_CHARS], joined[-TAIL_CHARS:]
            if self.canary:
                self.trail = (self.trail + squeeze(gone))[-TRAIL_CHARS:]
        self.tail = joined

    def safe_end(self, text: str, end: int) -> int:
        """How much of `text[:end]` may be released now: not a link, image or tag that has
        not ended (its halves would each pass and join up again in the caller's renderer),
        nor what could be the first part of the canary."""
        ready = text[:end]
        held = unfinished(ready)
        if held is not None:
            ready = ready[:held]
        if self.canary and ready:
            ready = ready[: hold_from(self.trail + squeeze(self.tail), ready, self.canary)]
        return len(ready)
