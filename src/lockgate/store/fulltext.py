"""Full-text (BM25) index over active chunks. SQLite FTS5 now; a PostgreSQL tsvector
implementation plugs in behind the same three methods."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, bindparam, text

# Words so common that OR-ing them into an FTS query only makes it slower and noisier.
_STOPWORDS = frozenset(
    """a an and are as at be by can do does did for from has have how i if in is it its
    me my of on or our so that the their them there these this to was we what when where
    which who why will with you your about into than then they not no yes""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(query: str, max_terms: int = 32) -> str | None:
    """Turn free text into a safe FTS5 MATCH expression (quoted terms OR-ed together)."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word in _STOPWORDS or word in terms:
            continue
        terms.append(word)
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms[:max_terms])


@dataclass(frozen=True)
class TextHit:
    chunk_id: int
    score: float  # higher is better


class TextIndex(Protocol):
    def add(self, conn: Connection, rows: Sequence[tuple[int, str, str]]) -> None: ...
    def remove(self, conn: Connection, chunk_ids: Sequence[int]) -> None: ...
    def search(
        self,
        query: str,
        limit: int,
        source_prefix: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> list[TextHit]: ...


class SqliteFts(TextIndex):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, conn: Connection, rows: Sequence[tuple[int, str, str]]) -> None:
        if rows:
            conn.execute(
                text("INSERT INTO chunks_fts (rowid, heading, text) VALUES (:id, :h, :t)"),
                [{"id": r[0], "h": r[1], "t": r[2]} for r in rows],
            )

    def remove(self, conn: Connection, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            conn.execute(
                text("DELETE FROM chunks_fts WHERE rowid IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": list(chunk_ids)},
            )

    def search(
        self,
        query: str,
        limit: int,
        source_prefix: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> list[TextHit]:
        match = fts_query(query)
        if match is None:
            return []
        params: dict[str, object] = {"q": match, "n": limit}
        where = ["chunks_fts MATCH :q"]
        join = ""
        if source_prefix or document_ids:
            join = (
                "JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.document_id"
            )
        if source_prefix:
            where.append("substr(d.source, 1, :plen) = :prefix")
            params.update(prefix=source_prefix, plen=len(source_prefix))
        stmt = text(
            f"SELECT chunks_fts.rowid, bm25(chunks_fts, 2.0, 1.0) AS s FROM chunks_fts {join} "
            f"WHERE {' AND '.join(where)}"
            + (" AND d.id IN :ids" if document_ids else "")
            + " ORDER BY s LIMIT :n"
        )
        if document_ids:
            stmt = stmt.bindparams(bindparam("ids", expanding=True))
            params["ids"] = list(document_ids)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt, params).all()
        # FTS5's bm25() is "lower is better"; flip it so every retriever agrees.
        return [TextHit(int(r[0]), -float(r[1])) for r in rows]
