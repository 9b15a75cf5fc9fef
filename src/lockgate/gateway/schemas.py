"""Typed bodies and query parameters of the non-chat routes (files, batches). Same rules as the
chat wire format: strict (an unknown field is an error) and every failure names its field."""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, JsonValue, field_validator
from starlette.requests import Request

from lockgate.batch.files import PURPOSES
from lockgate.engine.wire import WireBody, parse_body
from lockgate.gateway.errors import GatewayError

T = TypeVar("T", bound=BaseModel)

# Ids are minted by the stores (uuid4 hex); anything else cannot exist, so it is not looked up.
FILE_ID = re.compile(r"file-[0-9a-f]{24}")
BATCH_ID = re.compile(r"batch_[0-9a-f]{24}")
ID_MAX = 64


class BatchCreateIn(WireBody):
    input_file_id: str = Field(min_length=1, max_length=ID_MAX)
    endpoint: Literal["/v1/chat/completions"]
    completion_window: Literal["24h"] = "24h"
    metadata: dict[str, str] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return v
        if len(v) > 16:
            raise ValueError("at most 16 metadata entries")
        if any(len(k) > 64 or len(val) > 512 for k, val in v.items()):
            raise ValueError("metadata keys are at most 64 and values 512 characters")
        return v


class FileListQuery(WireBody):
    purpose: str | None = Field(None, max_length=32)
    limit: int = Field(10_000, ge=1, le=10_000)
    after: str | None = Field(None, max_length=ID_MAX)
    order: Literal["asc", "desc"] = "desc"


class BatchListQuery(WireBody):
    limit: int = Field(20, ge=1, le=100)
    after: str | None = Field(None, max_length=ID_MAX)


_PURPOSE_ENUM: list[JsonValue] = [*sorted(PURPOSES)]


class FileUploadFields(WireBody):
    """The non-file fields of a `/v1/files` multipart upload."""

    # A plain string checked by check_purpose (its own error code); the enum is for the document.
    purpose: str = Field(max_length=32, json_schema_extra={"enum": _PURPOSE_ENUM})

    def check_purpose(self) -> str:
        if self.purpose not in PURPOSES:
            raise GatewayError(
                400,
                f"purpose must be one of: {', '.join(sorted(PURPOSES))}",
                "invalid_purpose",
                "purpose",
            )
        return self.purpose


def parse_query(model: type[T], request: Request) -> T:
    """Query parameters as a typed model; a repeated parameter is an error, not a list."""
    data: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in data:
            raise GatewayError(400, f"{key}: given more than once", "invalid_value", key)
        data[key] = value
    # Query values are always strings: lax mode turns "20" into 20 for int fields.
    return parse_body(model, data, strict=False)


def path_id(request: Request, name: str, pattern: re.Pattern[str]) -> str | None:
    """The id in the path when it has the store's shape, else None (answered as not found)."""
    value = str(request.path_params.get(name, ""))
    return value if pattern.fullmatch(value) else None
