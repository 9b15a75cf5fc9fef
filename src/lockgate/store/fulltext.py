"""Full-text (BM25) index over active chunks. SQLite FTS5 now; a PostgreSQL tsvector
implementation plugs in behind the same three methods."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, bindparam, text

from lockgate.store.access import Access

# Words so common that OR-ing them into an FTS query only makes it slower and noisier.
_STOPWORDS = frozenset(
    """a an and are as at be by can do does did for from has have how i if in is it its
    me my of on or our so that the their them there these this to was we what when where
    which who why will with you your about into than then they not no yes""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str, max_terms: int = 32) -> list[str]:
    """The distinct non-stopword words of free text, in order."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word in _STOPWORDS or word in terms:
            continue
        terms.append(word)
    return terms[:max_terms]


def fts_query(query: str | list[str], max_terms: int = 32) -> str | None:
    """Turn free text (or chosen terms) into a safe FTS5 MATCH expression: quoted terms OR-ed."""
    terms = query_terms(query, max_terms) if isinstance(query, str) else query
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


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
        access: Access | None = None,
    ) -> list[TextHit]: ...


class SqliteFts(TextIndex):
    def __init__(self, engine: Engine, max_df: float = 1.0, min_common_rows: int = 1000) -> None:
        self.engine = engine
        self.term_stats = TermStats(max_df, min_common_rows)

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
        access: Access | None = None,
    ) -> list[TextHit]:
        """Best BM25 matches; with `access`, only rows that caller may see are ever
        ranked (the condition is part of the query, so LIMIT counts visible rows only)."""
        terms = query_terms(query)
        if not terms:
            return []
        with self.engine.connect() as conn:
            return self._search(conn, terms, limit, source_prefix, document_ids, access)

    def _search(
        self,
        conn: Connection,
        terms: list[str],
        limit: int,
        source_prefix: str | None,
        document_ids: Sequence[int] | None,
        access: Access | None = None,
    ) -> list[TextHit]:
        terms = self.term_stats.selective(conn, terms)
        params: dict[str, object] = {"q": fts_query(terms), "n": limit}
        where = ["chunks_fts MATCH :q"]
        join = ""
        if access is not None:
            join = "JOIN chunks c ON c.id = chunks_fts.rowid"
            where.append("c.tenant = :tenant")
            params["tenant"] = access.tenant
            visible = "c.acl = '[]'"
            for i, group in enumerate(access.groups):
                params[f"g{i}"] = group
                visible += (
                    f" OR EXISTS (SELECT 1 FROM json_each(c.acl) WHERE json_each.value = :g{i})"
                )
            where.append(f"({visible})")
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
        rows = conn.execute(stmt, params).all()
        # FTS5's bm25() is "lower is better"; flip it so every retriever agrees.
        return [TextHit(int(r[0]), -float(r[1])) for r in rows]


class TermStats:
    """Drops very common words from a BM25 query when rarer ones remain.

    FTS5 computes bm25() for every row that matches any OR-ed term, so one word found in
    half the corpus makes a query score half the corpus; its idf is so low that leaving it
    out barely changes the ranking of rows that match the rare words (Lucene's "common
    terms" idea). Counts are capped (only "more than the limit" matters) and cached until the
    index generation moves."""

    def __init__(self, max_df: float, min_common_rows: int) -> None:
        self.max_df = max_df
        # Small corpora never prune: every query is cheap there and each word counts.
        self.min_common_rows = min_common_rows
        self._generation: str | None = None
        self._limit = 0
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def selective(self, conn: Connection, terms: list[str]) -> list[str]:
        if self.max_df >= 1.0 or len(terms) < 2:
            return terms
        generation = conn.execute(
            text("SELECT value FROM meta WHERE key = 'index_generation'")
        ).scalar()
        with self._lock:
            if generation != self._generation:
                rows = int(
                    conn.execute(text("SELECT count(*) FROM chunks_fts_docsize")).scalar_one()
                )
                self._limit = max(int(self.max_df * rows), self.min_common_rows)
                self._counts = {}
                self._generation = generation
            limit, counts = self._limit, dict(self._counts)
        for term in terms:
            if term not in counts:
                counts[term] = int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM (SELECT 1 FROM chunks_fts "
                            "WHERE chunks_fts MATCH :q LIMIT :cap)"
                        ),
                        {"q": f'"{term}"', "cap": limit + 1},
                    ).scalar_one()
                )
        with self._lock:
            if generation == self._generation:
                self._counts.update(counts)
        rare = [t for t in terms if counts[t] <= limit]
        # Only common words: keep the two least common rather than match nothing.
        return rare or sorted(terms, key=lambda t: counts[t])[:2]
