"""OpenAI-compatible `/v1/files`: multipart upload, get, list, delete, content. Every file
belongs to the caller that uploaded it; other callers are told it does not exist."""

from __future__ import annotations

import asyncio

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from lockgate.batch.files import FileTooLarge, owner_key
from lockgate.engine.wire import parse_body
from lockgate.gateway.errors import GatewayError
from lockgate.gateway.http import bounded_stream
from lockgate.gateway.identity import principal_of
from lockgate.gateway.openapi import documented
from lockgate.gateway.routes.paging import list_page
from lockgate.gateway.schemas import FILE_ID, FileListQuery, FileUploadFields, parse_query, path_id
from lockgate.services import Services

# Room for the multipart framing and the small fields around the file itself.
_ENVELOPE = 64 * 1024


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _owner(request: Request) -> str:
    principal = principal_of(request)
    return owner_key(principal.id, principal.tenant)


def _not_found(file_id: str) -> GatewayError:
    return GatewayError(404, f"No such File object: {file_id}", "file_not_found", "file_id")


@documented("Upload a file", multipart=FileUploadFields, file_field="file")
async def create_file(request: Request) -> Response:
    services = _services(request)
    limit = services.settings.batch.max_file_bytes
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise GatewayError(415, "upload a file as multipart/form-data", "invalid_content_type")
    # The byte count is enforced on the stream itself, so a chunked upload (no length) is cut
    # off at the limit instead of being spooled to disk in full first.
    stream = bounded_stream(
        request,
        limit + _ENVELOPE,
        services.settings.server.body_read_timeout_s,
        "file_too_large",
        "file",
    )
    parser = MultiPartParser(
        request.headers, stream, max_files=1, max_fields=10, max_part_size=64 * 1024
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise GatewayError(
            400, f"could not read the multipart body: {exc.message}", "invalid_body"
        ) from None
    except (ValueError, KeyError) as exc:  # a malformed header or boundary: the client's error
        raise GatewayError(400, "could not read the multipart body", "invalid_body") from exc
    try:
        upload = form.get("file")
        fields: dict[str, str] = {}
        for key, value in form.multi_items():
            if key == "file":
                continue
            if key in fields or not isinstance(value, str):
                raise GatewayError(400, f"{key}: one text value expected", "invalid_value", key)
            fields[key] = value
        purpose = parse_body(FileUploadFields, fields).check_purpose()
        if not isinstance(upload, UploadFile):
            raise GatewayError(400, "the 'file' field is required", "missing_file", "file")
        filename = upload.filename or "upload.jsonl"
        try:
            filename.encode("utf-8")
        except UnicodeEncodeError:
            raise GatewayError(400, "filename is not valid text", "invalid_value", "file") from None
        try:
            obj = await asyncio.to_thread(
                services.files.create,
                filename[:256],
                purpose,
                upload.file,
                _owner(request),
                limit,
            )
        except FileTooLarge as exc:
            raise GatewayError(413, str(exc), "file_too_large", "file") from exc
    finally:
        await form.close()
    return JSONResponse(obj)


@documented("List your files", query=FileListQuery)
async def list_files(request: Request) -> Response:
    q = parse_query(FileListQuery, request)
    rows = await asyncio.to_thread(
        _services(request).files.list, q.purpose, q.limit + 1, q.after, q.order, _owner(request)
    )
    return list_page(rows, q.limit)


@documented("One of your files")
async def get_file(request: Request) -> Response:
    file_id = path_id(request, "file_id", FILE_ID)
    store = _services(request).files
    obj = await asyncio.to_thread(store.get, file_id, _owner(request)) if file_id else None
    if obj is None:
        raise _not_found(request.path_params["file_id"])
    return JSONResponse(obj)


@documented("Delete one of your files")
async def delete_file(request: Request) -> Response:
    file_id = path_id(request, "file_id", FILE_ID)
    store = _services(request).files
    if not file_id or not await asyncio.to_thread(store.delete, file_id, _owner(request)):
        raise _not_found(request.path_params["file_id"])
    return JSONResponse({"id": file_id, "object": "file", "deleted": True})


@documented("The content of one of your files", content_type="application/octet-stream")
async def file_content(request: Request) -> Response:
    file_id = path_id(request, "file_id", FILE_ID)
    store = _services(request).files
    path = await asyncio.to_thread(store.path, file_id, _owner(request)) if file_id else None
    if path is None or not path.exists():
        raise _not_found(request.path_params["file_id"])
    return FileResponse(path, media_type="application/octet-stream")
