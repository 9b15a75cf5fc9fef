"""Topic definitions for the topic scanner: plain-language descriptions turned into the
phrases that get embedded, and keyword patterns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


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


def parse_topics(raw: Any, kind: str) -> list[Topic]:
    """Topics from policy params: a list of {name, description, keywords, examples,
    threshold} mappings, or plain strings (the string is both name and description)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"topic scanner: '{kind}' must be a list")
    topics = []
    for item in raw:
        if isinstance(item, str):
            topics.append(Topic(item, item))
            continue
        if not isinstance(item, dict) or not (item.get("description") or item.get("name")):
            raise ValueError(f"topic scanner: each '{kind}' entry needs a name or description")
        name = str(item.get("name") or item["description"])
        threshold = item.get("threshold")
        topics.append(Topic(
            name=name,
            description=str(item.get("description") or name),
            keywords=[str(k) for k in item.get("keywords", [])],
            examples=[str(e) for e in item.get("examples", [])],
            threshold=float(threshold) if threshold is not None else None,
        ))
    return topics
