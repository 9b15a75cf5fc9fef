"""The ASGI application: routes, middleware, error handling, the lifespan's tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from lockgate.auth import scopes as sc
from lockgate.batch.worker import LiveTraffic, start_worker, stop_worker
from lockgate.engine.run import Engine, emit_async
from lockgate.gateway import alerts, drift, gcpolicy, leader, release_watch, retention, warmup
from lockgate.gateway.admission import AdmissionMiddleware
from lockgate.gateway.authgate import AuthMiddleware
from lockgate.gateway.body_timeout import BodyTimeoutMiddleware
from lockgate.gateway.errors import GatewayError, error_response
from lockgate.gateway.http import TraceIdMiddleware
from lockgate.gateway.openapi import openapi_json
from lockgate.gateway.routes.alerts import list_alerts
from lockgate.gateway.routes.batches import routes as batch_routes
from lockgate.gateway.routes.chat import chat_completions
from lockgate.gateway.routes.embeddings import embeddings
from lockgate.gateway.routes.feedback import submit_feedback
from lockgate.gateway.routes.guardrails import guardrails_check
from lockgate.gateway.routes.health import healthz, readyz
from lockgate.gateway.routes.ingest_runs import get_run, list_runs
from lockgate.gateway.routes.keys import routes as key_routes
from lockgate.gateway.routes.metrics import metrics
from lockgate.gateway.routes.models import list_models
from lockgate.gateway.routes.releases import list_releases
from lockgate.gateway.routes.reviews import routes as review_routes
from lockgate.gateway.routes.search import search
from lockgate.gateway.routes.traces import routes as trace_routes
from lockgate.gateway.scoping import scoped
from lockgate.observability import dispatch
from lockgate.observability.audit import config_loaded
from lockgate.observability.metrics import process_exiting, use_multiprocess
from lockgate.plugins.manager import plugin_manager
from lockgate.services import Services
from lockgate.telemetry import plugin as telemetry
from lockgate.ui.edge import UiEdge
from lockgate.ui.pages import PAGES, STATIC
from lockgate.ui.session import sealer

log = logging.getLogger("lockgate.gateway")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(
        GatewayError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code),
        getattr(request.state, "trace_id", None),
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc, getattr(request.state, "trace_id", None))


async def _unexpected(request: Request, exc: Exception) -> Response:
    trace_id = getattr(request.state, "trace_id", None)
    log.exception("unhandled error in %s (trace %s)", request.url.path, trace_id)
    # This handler runs outside TraceIdMiddleware, so the header is added here.
    return error_response(
        GatewayError(500, f"internal error; quote trace id {trace_id}", "internal_error"),
        trace_id,
    )


def ui_routes(services: Services) -> list[BaseRoute]:
    """The dashboard (lockgate.ui): its pages with their scopes, and its vendored assets."""
    if not services.settings.ui.enabled:
        return []
    sealer(services)  # a session secret that is set but too short fails here, at start-up
    pages: list[BaseRoute] = [
        scoped(Route(p.path, p.endpoint, methods=list(p.methods), include_in_schema=False), p.scope)
        for p in PAGES
    ]
    return [scoped(Mount("/ui/static", StaticFiles(directory=STATIC)), sc.PUBLIC), *pages]


def create_app(services: Services, preload_models: bool = True) -> Starlette:
    if services.settings.telemetry.prometheus_multiproc_dir is not None:
        # Before anything counts: the metric value store is chosen when a metric is created.
        use_multiprocess(services.settings.telemetry.prometheus_multiproc_dir)
    dispatch.configure(services.settings.events)  # the process's event writer
    engine = Engine(services)
    if services.settings.guardrails.enabled:
        # A policy naming a scanner that does not exist fails here, at start-up.
        services.guard.validate()

    def _start_jobs() -> list[asyncio.Task[None] | None]:
        return [
            retention.start(services),
            drift.start(services),
            release_watch.start(services),
            alerts.start(services),
        ]

    async def _stop_jobs(tasks: list[asyncio.Task[None] | None]) -> None:
        purger, drift_checker, watcher, alert_checker = tasks
        await alerts.stop(alert_checker)
        await release_watch.stop(watcher)
        await drift.stop(drift_checker)
        await retention.stop(purger)

    # Models are loaded and run once before /readyz says ready (gateway/warmup.py).
    warm = warmup.Warmup()
    warmup.serve(warm)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if preload_models:
            warm.state = "running"  # not ready from the first request on
        gc_config = services.settings.server.gc
        gcpolicy.set_threshold(gc_config)
        task = (
            # Once the models and stores are built, what is alive is the process's for good.
            asyncio.create_task(
                asyncio.to_thread(warmup.run, services, warm, lambda: gcpolicy.freeze(gc_config))
            )
            if preload_models
            else None
        )
        if task is None:
            gcpolicy.freeze(gc_config)  # nothing more to load: what is alive now stays
        batch_worker = start_worker(services, engine.run_turn)  # batches, in the background
        started = config_loaded(services.settings, services.prompts)
        await emit_async([started], services)  # the audit log's config.loaded
        # The scheduled jobs run in one process of those sharing the store (gateway/leader.py).
        lease = leader.lease_for(services.settings.home, services.engine)
        jobs = asyncio.create_task(leader.lead(lease, _start_jobs, _stop_jobs))
        yield
        await leader.resign(jobs)
        await stop_worker(batch_worker)
        await services.models.aclose()  # upstream connections, once nothing calls them
        # Every trace and audit entry accepted is written before the process goes.
        await asyncio.to_thread(dispatch.flush)
        await asyncio.to_thread(telemetry.flush)  # spans of the last turns, if exported
        if task is not None and not task.done():
            task.cancel()
        process_exiting()

    # Each route with the scope it needs (`lockgate.auth.scopes`), checked at the edge before
    # the handler runs; a plugin's routes declare theirs the same way. Undeclared: refused.
    routes: list[BaseRoute] = [
        scoped(Route("/v1/chat/completions", chat_completions, methods=["POST"]), sc.CHAT),
        scoped(Route("/v1/models", list_models, methods=["GET"]), sc.MODELS_READ),
        scoped(Route("/v1/embeddings", embeddings, methods=["POST"]), sc.EMBEDDINGS),
        scoped(Route("/v1/search", search, methods=["POST"]), sc.SEARCH),
        scoped(Route("/v1/guardrails/check", guardrails_check, methods=["POST"]), sc.GUARD_CHECK),
        scoped(Route("/v1/feedback", submit_feedback, methods=["POST"]), sc.FEEDBACK),
        scoped(Route("/v1/releases", list_releases, methods=["GET"]), sc.RELEASES_READ),
        scoped(Route("/metrics", metrics, methods=["GET"]), sc.METRICS_READ),
        scoped(Route("/v1/alerts", list_alerts, methods=["GET"]), sc.METRICS_READ),
        scoped(Route("/v1/ingest/runs", list_runs, methods=["GET"]), sc.DOCS_READ),
        scoped(Route("/v1/ingest/runs/{run_id}", get_run, methods=["GET"]), sc.DOCS_READ),
        scoped(Route("/healthz", healthz, methods=["GET"]), sc.PUBLIC),
        scoped(Route("/readyz", readyz, methods=["GET"]), sc.PUBLIC),
        scoped(Route("/openapi.json", openapi_json, methods=["GET"]), sc.SCHEMA_READ),
        *batch_routes(),
        *key_routes(),
        *trace_routes(),
        *review_routes(),
        *ui_routes(services),
    ]
    plugin_manager().hook.register_routes(routes=routes, services=services)
    services.scopes  # noqa: B018 - a role_scopes override naming an unknown scope fails here
    app = Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            GatewayError: _gateway_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    # Innermost of the three: it needs the trace id, and its refusals still carry one.
    app.add_middleware(AuthMiddleware)
    app.add_middleware(UiEdge)  # around the edge: its refusals become pages for a browser
    # Before the auth lookups and the turn, inside the trace id so a refusal carries one.
    server = services.settings.server
    app.add_middleware(
        AdmissionMiddleware,
        max_inflight=server.inflight_limit(),
        queue_wait_s=server.queue_wait_s,
    )
    app.add_middleware(TraceIdMiddleware)
    app.add_middleware(LiveTraffic)  # lets the batch worker yield to live requests
    # Outermost: every route's body reads share one deadline from the headers' arrival.
    body_s = services.settings.server.body_read_timeout_s
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=body_s)
    app.state.services = services
    app.state.engine = engine
    app.state.warmup = warm
    return app
