"""OCR and more formats.

- chunks.ocr_confidence: the OCR recogniser's confidence for text read from an image (NULL
  for text that came from a text layer), so a reader can judge a citation from a scan.
- documents.parent_document_id: a mail attachment or archive member points at the document
  it was found in (its source is `<parent source>#<name>`).
- document_versions.parse_metadata: what the parser reported as JSON: mail headers, sheet
  names, OCR pages read, flagged as low-confidence or skipped.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def _ddl(dialect: str) -> list[str]:
    ref = "INTEGER" if dialect == "sqlite" else "BIGINT"
    add = "ALTER TABLE {} ADD COLUMN {}"
    return [
        add.format("chunks", "ocr_confidence REAL"),
        add.format("documents", f"parent_document_id {ref}"),
        add.format("document_versions", "parse_metadata TEXT NOT NULL DEFAULT '{}'"),
        "CREATE INDEX ix_documents_parent ON documents (parent_document_id)",
    ]


def upgrade(conn: Connection, dialect: str) -> None:
    for stmt in _ddl(dialect):
        conn.execute(text(stmt))
