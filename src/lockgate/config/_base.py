"""The base of every config section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # A typo in a config key must fail loudly at start-up rather than be silently ignored.
    model_config = ConfigDict(extra="forbid")
