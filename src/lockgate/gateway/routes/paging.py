"""Cursor pagination in the OpenAI list format, shared by the files and batches routes."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse

from lockgate.gateway.errors import GatewayError


def page_limit(query: QueryParams, default: int, maximum: int) -> int:
    try:
        return min(maximum, max(1, int(query.get("limit", str(default)))))
    except ValueError:
        raise GatewayError(400, "limit must be an integer", "invalid_value", "limit") from None


def list_page(rows: list[dict[str, Any]], limit: int) -> JSONResponse:
    """`rows` was fetched with limit + 1 so that `has_more` needs no second query."""
    page = rows[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(rows) > limit,
        }
    )
