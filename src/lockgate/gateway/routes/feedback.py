"""POST /v1/feedback: a caller rates an answer, by its trace id, with a thumb or a rating and
optionally a comment and a corrected answer. The trace must be in the caller's tenant; one
of another tenant is answered exactly as one that does not exist (404 `trace_not_found`),
so an id reveals nothing. The trace's prompt version, model and app are copied onto the row."""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.engine.wire import WireBody, parse_body
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.http import read_json
from lockgate.gateway.identity import principal_of
from lockgate.gateway.openapi import documented
from lockgate.gateway.routes.traces import visible_groups
from lockgate.gateway.schemas import ID_MAX
from lockgate.services import Services
from lockgate.store.feedback import THUMB_RATING, FeedbackRecord, new_feedback_id


class FeedbackIn(WireBody):
    trace_id: str = Field(min_length=1, max_length=ID_MAX)
    # Exactly one of the two: a thumb counts as a rating of 5 (up) or 1 (down).
    thumb: Literal["up", "down"] | None = None
    rating: int | None = Field(None, ge=1, le=5)
    comment: str | None = Field(None, max_length=10_000)
    correction: str | None = Field(None, max_length=50_000)

    def check(self) -> FeedbackIn:
        if (self.thumb is None) == (self.rating is None):
            raise GatewayError(
                400,
                "give exactly one of 'thumb' (\"up\" or \"down\") or 'rating' (1 to 5)",
                "invalid_value",
                "rating",
            )
        return self


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@documented(
    "Rate an answer of the caller's tenant by its trace id: a thumb or a 1-5 rating, with "
    "an optional comment and correction",
    body=FeedbackIn,
    responses={201: "Created", 404: "No such trace in the caller's tenant"},
)
async def submit_feedback(request: Request) -> Response:
    services = _services(request)
    principal = principal_of(request)
    raw = await read_json(request, services.settings.server.max_body_bytes)
    req = parse_body(FeedbackIn, raw).check()
    # Only a trace the caller may read: its tenant, and the groups of the chunks it used.
    groups = visible_groups(principal, principal.tenant)
    trace = await asyncio.to_thread(
        services.traces.get, req.trace_id, principal.tenant, groups
    )
    if trace is None:
        raise GatewayError(404, f"no trace {req.trace_id}", "trace_not_found", "trace_id")
    rating = THUMB_RATING[req.thumb] if req.thumb is not None else req.rating
    assert rating is not None  # check() saw to it
    rec = FeedbackRecord(
        id=new_feedback_id(),
        tenant=principal.tenant,
        principal=principal.id,
        trace_id=req.trace_id,
        rating=rating,
        thumb=req.thumb,
        comment=req.comment,
        correction=req.correction,
        prompt_version=trace.get("prompt_version"),
        model=trace.get("model"),
        app=trace.get("app"),
    )
    await asyncio.to_thread(services.feedback.add, rec)
    return JSONResponse(
        {
            "id": rec.id,
            "object": "feedback",
            "trace_id": rec.trace_id,
            "rating": rec.rating,
            "created_at": rec.created_at,
        },
        status_code=201,
    )

