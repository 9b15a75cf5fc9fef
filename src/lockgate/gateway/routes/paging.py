"""Cursor pagination in the OpenAI list format, shared by the files and batches routes."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


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
