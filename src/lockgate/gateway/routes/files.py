"""OpenAI-compatible `/v1/files`: multipart upload, get, list, delete, content."""

from __future__ import annotations

import asyncio

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from lockgate.batch.files import PURPOSES, FileTooLarge
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.identity import principal_of
from lockgate.gateway.routes.paging import list_page, page_limit
from lockgate.services import Services


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _not_found(file_id: str) -> GatewayError:
    return GatewayError(404, f"No such File object: {file_id}", "file_not_found", "file_id")


async def create_file(request: Request) -> Response:
    services = _services(request)
    limit = services.settings.batch.max_file_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise GatewayError(413, f"file larger than {limit} bytes", "file_too_large", "file")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise GatewayError(415, "upload a file as multipart/form-data", "invalid_content_type")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # noqa: BLE001 - a malformed body is the client's error
        raise GatewayError(
            400, f"could not read the multipart body: {exc}", "invalid_body"
        ) from exc
    try:
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise GatewayError(400, "the 'file' field is required", "missing_file", "file")
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            raise GatewayError(
                400,
                f"purpose must be one of: {', '.join(sorted(PURPOSES))}",
                "invalid_purpose",
                "purpose",
            )
        caller = principal_of(request).id
        try:
            obj = await asyncio.to_thread(
                services.files.create,
                upload.filename or "upload.jsonl",
                purpose,
                upload.file,
                caller,
                limit,
            )
        except FileTooLarge as exc:
            raise GatewayError(413, str(exc), "file_too_large", "file") from exc
    finally:
        await form.close()
    return JSONResponse(obj)


async def list_files(request: Request) -> Response:
    q = request.query_params
    limit = page_limit(q, default=10_000, maximum=10_000)
    order = "asc" if q.get("order") == "asc" else "desc"
    rows = await asyncio.to_thread(
        _services(request).files.list, q.get("purpose"), limit + 1, q.get("after"), order
    )
    return list_page(rows, limit)


async def get_file(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    obj = await asyncio.to_thread(_services(request).files.get, file_id)
    if obj is None:
        raise _not_found(file_id)
    return JSONResponse(obj)


async def delete_file(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    if not await asyncio.to_thread(_services(request).files.delete, file_id):
        raise _not_found(file_id)
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


async def file_content(request: Request) -> Response:
    file_id = request.path_params["file_id"]
    path = await asyncio.to_thread(_services(request).files.path, file_id)
    if path is None or not path.exists():
        raise _not_found(file_id)
    return FileResponse(path, media_type="application/octet-stream")
