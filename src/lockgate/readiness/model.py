"""A readiness item and the report of all of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from lockgate.config import Settings
    from lockgate.services import Services

Status = Literal["pass", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    status: Status
    evidence: str
    fix: str = ""  # empty when there is nothing to do

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "evidence": self.evidence,
            "fix": self.fix,
        }


@dataclass
class Report:
    items: list[Item] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not any(i.status == "fail" for i in self.items)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, Any] = {s: sum(1 for i in self.items if i.status == s) for s in STATUSES}
        return {**counts, "total": len(self.items), "ready": self.ready}

    def as_dict(self) -> dict[str, Any]:
        return {"items": [i.as_dict() for i in self.items], "summary": self.summary()}


@dataclass
class Context:
    """What a check reads: the settings, and the services for the store."""

    services: Services

    @property
    def settings(self) -> Settings:
        return self.services.settings
