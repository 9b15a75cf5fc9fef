"""The dashboard's menu: each page with the scope its route declares (pages.py), so the menu
shows a principal only what it may open."""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.auth import scopes as sc


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    scope: str


NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "/ui/overview", sc.METRICS_READ),
    NavItem("Traces", "/ui/traces", sc.TRACES_READ),
    NavItem("Review", "/ui/reviews", sc.REVIEW),
    NavItem("Documents", "/ui/documents", sc.DOCS_READ),
    NavItem("Prompts", "/ui/prompts", sc.PROMPTS_READ),
    NavItem("Releases", "/ui/releases", sc.RELEASES_READ),
    NavItem("Evaluations", "/ui/evals", sc.EVAL_READ),
    NavItem("Drift", "/ui/drift", sc.METRICS_READ),
    NavItem("Costs", "/ui/costs", sc.COSTS),
    NavItem("Alerts", "/ui/alerts", sc.METRICS_READ),
    NavItem("Readiness", "/ui/readiness", sc.CONFIG_READ),
    NavItem("Audit log", "/ui/audit", sc.AUDIT_READ),
)
