"""The review queue: list, open, claim, approve, edit, reject. Who may do what is
`ReviewQueue`'s to say, exactly as for the API (gateway/routes/reviews.py); this module
turns its refusals into messages on the page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lockgate.review import (
    ReviewConflict,
    ReviewForbidden,
    ReviewInputError,
    ReviewNotFound,
    ReviewQueue,
)
from lockgate.review.views import summary
from lockgate.store.reviews import ReviewRecord
from lockgate.ui.render import page, principal_of, services_of
from lockgate.ui.views.common import back_to, checked_form, field

log = logging.getLogger("lockgate.review")

STATUSES = ("open", "pending", "claimed", "approved", "edited", "rejected", "decided", "all")
ACTIONS = ("claim", "approve", "edit", "reject")


def _queue(request: Request) -> ReviewQueue:
    return services_of(request).reviews  # type: ignore[no-any-return]


async def review_list(request: Request) -> Response:
    status = request.query_params.get("status") or "open"
    if status not in STATUSES:
        raise HTTPException(400, f"status: one of {', '.join(STATUSES)}")
    who = principal_of(request)
    queue = _queue(request)
    try:
        found = await asyncio.to_thread(
            queue.find, who, None if status == "all" else status, None, None, None, 200
        )
    except ReviewForbidden as exc:
        raise HTTPException(403, str(exc)) from None
    return page(
        request,
        "reviews.html",
        title="Review queue",
        rows=[summary(r) for r in found],
        chosen=status,
        statuses=STATUSES,
    )


async def review_detail(request: Request) -> Response:
    who = principal_of(request)
    queue = _queue(request)
    review_id = str(request.path_params["review_id"])
    try:
        rec = await asyncio.to_thread(queue.get, who, review_id)
    except ReviewNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return page(
        request,
        "review.html",
        title=f"Review {rec.id}",
        item=queue.view(who, rec),
        done=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )


def _notify(queue: ReviewQueue, rec: ReviewRecord) -> None:
    try:
        queue.notify(rec)
    except Exception:  # noqa: BLE001 - the decision stands; the failure is logged
        log.exception("review callback for %s failed", rec.id)


async def review_action(request: Request) -> Response:
    form = await checked_form(request)
    action = str(request.path_params["action"])
    if action not in ACTIONS:
        raise HTTPException(404, f"no review action '{action}'")
    who = principal_of(request)
    queue = _queue(request)
    review_id = str(request.path_params["review_id"])
    note = field(form, "note")
    act: Callable[[], ReviewRecord]
    if action == "claim":
        act = lambda: queue.claim(who, review_id)  # noqa: E731
    elif action == "approve":
        act = lambda: queue.approve(who, review_id, note)  # noqa: E731
    elif action == "reject":
        act = lambda: queue.reject(who, review_id, note)  # noqa: E731
    else:
        text = field(form, "text", 200_000)
        act = lambda: queue.edit(who, review_id, text, None, note)  # noqa: E731
    here = f"/ui/reviews/{review_id}"
    try:
        rec = await asyncio.to_thread(act)
    except ReviewNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (ReviewForbidden, ReviewConflict, ReviewInputError) as exc:
        return back_to(here, error=str(exc))
    response = back_to(here, done=action)
    if action != "claim":
        response.background = BackgroundTask(_notify, queue, rec)
    return response
