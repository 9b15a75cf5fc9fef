"""The dashboard's route table: each page with the scope it needs. The gateway declares them
with `scoped` (gateway/app.py), so the auth edge checks them before any handler runs, like
every API route; the menu (nav.py) shows the same scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from lockgate.auth import scopes as sc
from lockgate.ui.views import documents, evals, login, ops, overview, registry, reviews, traces

STATIC = Path(__file__).resolve().parent / "static"
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Page:
    path: str
    endpoint: Endpoint
    scope: str
    methods: tuple[str, ...] = ("GET",)


PAGES: tuple[Page, ...] = (
    Page("/ui", login.home, sc.PUBLIC),
    Page("/ui/login", login.login_form, sc.PUBLIC),
    Page("/ui/login", login.login, sc.PUBLIC, ("POST",)),
    Page("/ui/logout", login.logout, sc.PUBLIC, ("POST",)),
    Page("/ui/overview", overview.overview, sc.METRICS_READ),
    Page("/ui/traces", traces.trace_list, sc.TRACES_READ),
    Page("/ui/traces/{trace_id}", traces.trace_detail, sc.TRACES_READ),
    Page("/ui/reviews", reviews.review_list, sc.REVIEW),
    Page("/ui/reviews/{review_id}", reviews.review_detail, sc.REVIEW),
    Page("/ui/reviews/{review_id}/{action}", reviews.review_action, sc.REVIEW, ("POST",)),
    Page("/ui/documents", documents.documents, sc.DOCS_READ),
    Page("/ui/documents/retry", documents.retry, sc.DOCS_WRITE, ("POST",)),
    Page("/ui/documents/{document_id}", documents.document, sc.DOCS_READ),
    Page("/ui/prompts", registry.prompts, sc.PROMPTS_READ),
    Page("/ui/prompts/{name}", registry.prompt_detail, sc.PROMPTS_READ),
    Page("/ui/releases", registry.releases, sc.RELEASES_READ),
    Page("/ui/evals", evals.eval_list, sc.EVAL_READ),
    Page("/ui/evals/compare", evals.eval_compare, sc.EVAL_READ),
    Page("/ui/evals/{experiment}", evals.eval_detail, sc.EVAL_READ),
    Page("/ui/drift", ops.drift, sc.METRICS_READ),
    Page("/ui/costs", ops.costs, sc.COSTS),
    Page("/ui/alerts", ops.alerts, sc.METRICS_READ),
    Page("/ui/readiness", ops.readiness, sc.CONFIG_READ),
    Page("/ui/audit", ops.audit, sc.AUDIT_READ),
)
