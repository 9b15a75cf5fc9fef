"""Uploaded files (`/v1/files`): metadata in the SQL store, bytes on local disk under
`<home>/files/`. An object store would replace `_path`/`open` later; the routes and the batch
worker only see `FileStore`."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, select

from lockgate.store.db import transaction
from lockgate.store.tables import files

# What OpenAI accepts; only "batch" means anything here, the rest are stored as given.
PURPOSES = {"batch", "batch_output", "assistants", "fine-tune", "vision", "user_data", "evals"}
_CHUNK = 1 << 20


class FileTooLarge(Exception):
    pass


def owner_key(principal_id: str, tenant: str) -> str:
    """Who owns a file, as stored in its `principal` column: tenant and principal together, so
    the same principal id in two tenants names two owners. `|` never occurs in a cleaned id."""
    return f"{tenant}|{principal_id}"


def file_object(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": int(row.created_at),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


class FileStore:
    def __init__(self, engine: Engine, root: Path) -> None:
        self.engine = engine
        self.root = root

    def create(
        self,
        filename: str,
        purpose: str,
        src: IO[bytes] | bytes,
        principal: str | None,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / file_id
        tmp = final.with_suffix(".part")
        size = 0
        try:
            with open(tmp, "wb") as out:
                if isinstance(src, bytes):
                    out.write(src)
                    size = len(src)
                else:
                    while chunk := src.read(_CHUNK):
                        size += len(chunk)
                        if max_bytes is not None and size > max_bytes:
                            raise FileTooLarge(f"file larger than {max_bytes} bytes")
                        out.write(chunk)
                out.flush()
                # A batch's output is written once and read after a crash: it must be on disk
                # before the row that points at it is committed.
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        now = time.time()
        with transaction(self.engine) as conn:
            conn.execute(
                files.insert().values(
                    id=file_id,
                    created_at=now,
                    filename=filename,
                    purpose=purpose,
                    bytes=size,
                    path=str(final),
                    principal=principal,
                    deleted=0,
                )
            )
            row = conn.execute(select(files).where(files.c.id == file_id)).one()
        return file_object(row)

    # `owner` (an owner_key) scopes every read to one caller inside the query; None is the
    # operator's view (CLI, batch worker), which sees every file.
    def _row(self, file_id: str, owner: str | None = None) -> Any:
        stmt = select(files).where(files.c.id == file_id, files.c.deleted == 0)
        if owner is not None:
            stmt = stmt.where(files.c.principal == owner)
        with self.engine.connect() as conn:
            return conn.execute(stmt).first()

    def get(self, file_id: str, owner: str | None = None) -> dict[str, Any] | None:
        row = self._row(file_id, owner)
        return file_object(row) if row else None

    def read(self, file_id: str, owner: str | None = None) -> bytes | None:
        row = self._row(file_id, owner)
        if row is None:
            return None
        return Path(row.path).read_bytes()

    def path(self, file_id: str, owner: str | None = None) -> Path | None:
        row = self._row(file_id, owner)
        return Path(row.path) if row else None

    def list(
        self,
        purpose: str | None = None,
        limit: int = 10_000,
        after: str | None = None,
        order: str = "desc",
        owner: str | None = None,
    ) -> list[dict[str, Any]]:
        f = files
        stmt = select(f).where(f.c.deleted == 0)
        if owner is not None:
            stmt = stmt.where(f.c.principal == owner)
        if purpose:
            stmt = stmt.where(f.c.purpose == purpose)
        if after:
            with self.engine.connect() as conn:
                anchor = conn.execute(select(f.c.created_at).where(f.c.id == after)).first()
            if anchor is not None:
                cmp = f.c.created_at < anchor[0] if order == "desc" else f.c.created_at > anchor[0]
                stmt = stmt.where(cmp)
        key = f.c.created_at.desc() if order == "desc" else f.c.created_at.asc()
        stmt = stmt.order_by(key, f.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [file_object(r) for r in conn.execute(stmt)]

    def delete(self, file_id: str, owner: str | None = None) -> bool:
        row = self._row(file_id, owner)
        if row is None:
            return False
        with transaction(self.engine) as conn:
            conn.execute(files.update().where(files.c.id == file_id).values(deleted=1))
        Path(row.path).unlink(missing_ok=True)
        return True
