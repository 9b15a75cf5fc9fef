"""Document access lists: `documents.tenant`/`acl` and their copies on `chunks` exist since
m0001 but were never set or read; retrieval now filters on them. Listing a tenant's
documents (ingest pruning, per-tenant listings) looks them up by tenant."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    conn.execute(text("CREATE INDEX ix_documents_tenant ON documents (tenant, status)"))
    # Chunks written before carry the defaults; align them with their document in case a
    # document's tenant or acl was set by hand.
    conn.execute(
        text(
            "UPDATE chunks SET "
            "tenant = (SELECT d.tenant FROM documents d WHERE d.id = chunks.document_id), "
            "acl = (SELECT d.acl FROM documents d WHERE d.id = chunks.document_id)"
        )
    )
