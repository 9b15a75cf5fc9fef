"""Topic definitions for the topic scanner: plain-language descriptions turned into the
phrases that get embedded, and keyword patterns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass
class Topic:
    name: str
    description: str
    keywords: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    threshold: float | None = None  # overrides the scanner's similarity threshold

    def phrases(self) -> list[str]:
        """What is embedded for this topic: the description, each of its comma/semicolon
        separated facets ("financial or investment advice", "which stocks to buy"), and any
        example questions. A text is compared with each and the best match counts: one
        sentence about stocks should not have to resemble the whole description."""
        out = [self.description]
        facets = [f.strip() for f in re.split(r"[;,:]|\bor\b|\band\b", self.description)]
        out += [f for f in facets if len(f) >= 3]
        out += self.examples
        return list(dict.fromkeys(p for p in out if p))

    def keyword_pattern(self) -> re.Pattern[str] | None:
        if not self.keywords:
            return None
        alts = [r"\s+".join(map(re.escape, k.lower().split())) for k in self.keywords if k.strip()]
        if not alts:
            return None
        return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alts) + r")(?![a-z0-9])")


class TopicEntry(BaseModel):
    """One topic in the policy params; a plain string is both its name and description."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)
    threshold: float | None = Field(None, description="overrides the scanner's `similarity`")

    @model_validator(mode="after")
    def _named(self) -> TopicEntry:
        if not (self.description or self.name):
            raise ValueError("topic scanner: each topic needs a name or description")
        return self

    def topic(self) -> Topic:
        name = self.name or self.description or ""
        return Topic(
            name=name,
            description=self.description or name,
            keywords=list(self.keywords),
            examples=list(self.examples),
            threshold=self.threshold,
        )


def parse_topics(entries: Sequence[str | TopicEntry] | None) -> list[Topic]:
    """Topics from validated policy params."""
    return [Topic(e, e) if isinstance(e, str) else e.topic() for e in entries or []]
