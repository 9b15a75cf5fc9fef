"""The human review API: reviewers list, claim and decide the items of their tenant; the caller
an item belongs to polls it for the decision. Who may do what is `ReviewQueue`'s to say;
this module only translates HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import Field
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lockgate.auth.durations import parse_duration
from lockgate.auth.scopes import REVIEW, REVIEW_STATUS
from lockgate.engine.turn import Principal
from lockgate.engine.wire import WireBody, parse_body
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import principal_of
from lockgate.gateway.openapi import documented
from lockgate.gateway.schemas import parse_query
from lockgate.gateway.scoping import scoped
from lockgate.review import (
    ReviewConflict,
    ReviewForbidden,
    ReviewInputError,
    ReviewNotFound,
    ReviewQueue,
)
from lockgate.review.views import summary
from lockgate.services import Services
from lockgate.store.reviews import ReviewRecord

log = logging.getLogger("lockgate.review")

ListStatus = Literal[
    "pending", "claimed", "open", "approved", "edited", "rejected", "decided", "all"
]


class ReviewListQuery(WireBody):
    status: ListStatus = "open"
    kind: Literal["groundedness", "guardrail", "tool_call"] | None = None
    # Durations (30m, 2h, 7d): only items at least / at most this old.
    min_age: str | None = Field(None, max_length=20)
    max_age: str | None = Field(None, max_length=20)
    limit: int = Field(50, ge=1, le=500)


class ApproveIn(WireBody):
    note: str | None = Field(None, max_length=10_000)


class RejectIn(WireBody):
    reason: str | None = Field(None, max_length=10_000)


class EditIn(WireBody):
    # The replacement answer; for a tool call, `arguments` (a JSON object) instead.
    text: str | None = Field(None, min_length=1, max_length=200_000)
    arguments: dict[str, Any] | None = None
    note: str | None = Field(None, max_length=10_000)

    def check(self) -> EditIn:
        if (self.text is None) == (self.arguments is None):
            raise GatewayError(
                400,
                "give exactly one of 'text' (an answer) or 'arguments' (a tool call)",
                "invalid_value",
                "text",
            )
        return self


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _queue(request: Request) -> ReviewQueue:
    return _services(request).reviews


def _duration(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise GatewayError(400, str(exc), "invalid_value", name) from None


async def _act(fn: Callable[[], ReviewRecord]) -> ReviewRecord:
    """Run a queue action off the event loop, its refusals as OpenAI-style errors."""
    try:
        return await asyncio.to_thread(fn)
    except ReviewForbidden as exc:
        raise GatewayError(403, str(exc), "forbidden") from None
    except ReviewNotFound as exc:
        raise GatewayError(404, str(exc), "review_not_found") from None
    except ReviewConflict as exc:
        raise GatewayError(409, str(exc), "review_conflict") from None
    except ReviewInputError as exc:
        raise GatewayError(400, str(exc), "invalid_value") from None


@documented("Review queue of the caller's tenant (reviewers and admins)", query=ReviewListQuery)
async def list_reviews(request: Request) -> Response:
    query = parse_query(ReviewListQuery, request)
    min_age = _duration(query.min_age, "min_age")
    max_age = _duration(query.max_age, "max_age")
    principal = principal_of(request)
    queue = _queue(request)
    status = None if query.status == "all" else query.status
    try:
        found = await asyncio.to_thread(
            queue.find, principal, status, query.kind, min_age, max_age, query.limit
        )
    except ReviewForbidden as exc:
        raise GatewayError(403, str(exc), "forbidden") from None
    return JSONResponse({"object": "list", "data": [summary(r) for r in found]})


@documented(
    "One review item: everything for a reviewer; status and, once decided, the answer for "
    "the caller it belongs to"
)
async def get_review(request: Request) -> Response:
    principal = principal_of(request)
    queue = _queue(request)
    review_id = str(request.path_params["review_id"])
    rec = await _act(lambda: queue.get(principal, review_id))
    return JSONResponse(queue.view(principal, rec))


def _decided(request: Request, principal: Principal, rec: ReviewRecord) -> Response:
    """The decision, and the app's callback sent once the reply is out."""
    queue = _queue(request)
    return JSONResponse(
        queue.view(principal, rec), background=BackgroundTask(_notify, queue, rec)
    )


def _notify(queue: ReviewQueue, rec: ReviewRecord) -> None:
    try:
        queue.notify(rec)
    except Exception:  # noqa: BLE001 - the decision stands; the failure is logged
        log.exception("review callback for %s failed", rec.id)


async def _body(request: Request) -> Any:
    raw = await read_json(request, _services(request).settings.server.max_body_bytes, optional=True)
    return {} if raw is None else raw


@documented("Claim a review item (one reviewer at a time; the claim expires)")
async def claim_review(request: Request) -> Response:
    principal = principal_of(request)
    queue = _queue(request)
    review_id = str(request.path_params["review_id"])
    rec = await _act(lambda: queue.claim(principal, review_id))
    return JSONResponse(queue.view(principal, rec))


@documented("Approve a review item: the answer or tool call is released as it is", body=ApproveIn)
async def approve_review(request: Request) -> Response:
    principal = principal_of(request)
    req = parse_body(ApproveIn, await _body(request))
    queue = _queue(request)
    review_id = str(request.path_params["review_id"])
    rec = await _act(lambda: queue.approve(principal, review_id, req.note))
    return _decided(request, principal, rec)


@documented("Reject a review item: the caller gets the refusal", body=RejectIn)
async def reject_review(request: Request) -> Response:
    principal = principal_of(request)
    req = parse_body(RejectIn, await _body(request))
    queue = _queue(request)
    review_id = str(request.path_params["review_id"])
    rec = await _act(lambda: queue.reject(principal, review_id, req.reason))
    return _decided(request, principal, rec)


@documented(
    "Edit a review item: release a corrected answer (kept as an evaluation correction) or "
    "corrected tool call arguments",
    body=EditIn,
)
async def edit_review(request: Request) -> Response:
    principal = principal_of(request)
    req = parse_body(EditIn, await _body(request)).check()
    queue = _queue(request)
    review_id = str(request.path_params["review_id"])
    rec = await _act(lambda: queue.edit(principal, review_id, req.text, req.arguments, req.note))
    return _decided(request, principal, rec)


Endpoint = Callable[[Request], Awaitable[Response]]


def routes() -> list[Route]:
    actions: list[tuple[str, Endpoint]] = [
        ("claim", claim_review),
        ("approve", approve_review),
        ("reject", reject_review),
        ("edit", edit_review),
    ]
    return [
        scoped(Route("/v1/reviews", list_reviews, methods=["GET"]), REVIEW),
        scoped(Route("/v1/reviews/{review_id}", get_review, methods=["GET"]), REVIEW_STATUS),
        *(
            scoped(Route(f"/v1/reviews/{{review_id}}/{name}", fn, methods=["POST"]), REVIEW)
            for name, fn in actions
        ),
    ]
