"""User feedback on answers: the satisfaction target that `lockgate feedback report` checks
each group against."""

from __future__ import annotations

from pydantic import Field

from lockgate.config._base import Strict


class FeedbackConfig(Strict):
    # The mean rating (1-5; a thumb up counts 5, down 1) a group should reach.
    target_rating: float = Field(4.2, ge=1, le=5)
