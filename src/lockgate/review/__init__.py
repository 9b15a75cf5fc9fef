"""The human review queue: answers and tool calls that wait for (or are checked after the
fact by) a reviewer. `ReviewQueue` is the one API the engine stage, the HTTP routes, the
CLI and tool calling use; `lockgate.store.reviews` keeps the rows."""

from lockgate.review.errors import ReviewConflict, ReviewForbidden, ReviewInputError, ReviewNotFound
from lockgate.review.queue import ReviewQueue
from lockgate.review.tools import ToolCallDecision, ToolCallRequest

__all__ = [
    "ReviewConflict",
    "ReviewForbidden",
    "ReviewInputError",
    "ReviewNotFound",
    "ReviewQueue",
    "ToolCallDecision",
    "ToolCallRequest",
]
