"""Full-text index over active chunks, behind three methods: SQLite's FTS5 (BM25) and
PostgreSQL's tsvector with a GIN index (`ts_rank_cd`). `text_index_for` picks by dialect."""

from __future__ import annotations

import math
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


def text_index_for(engine: Engine, max_df: float = 1.0) -> TextIndex:
    """The full-text index of the engine's dialect."""
    if engine.dialect.name == "sqlite":
        return SqliteFts(engine, max_df=max_df)
    if engine.dialect.name == "postgresql":
        return PostgresFts(engine, max_df=max_df)
    raise ValueError(
        f"no full-text index for '{engine.dialect.name}' stores; store.url must be a "
        "sqlite:/// or postgresql+psycopg:// URL"
    )


@dataclass(frozen=True)
class _Filters:
    """What a search is narrowed to, as SQL over `c` (chunks) and `d` (documents)."""

    join: str
    where: list[str]
    params: dict[str, object]
    document_ids: list[int] | None


def _filters(
    chunk_id: str,
    source_prefix: str | None,
    document_ids: Sequence[int] | None,
    access: Access | None,
    group_in_acl: str,
) -> _Filters:
    """The conditions both indexes push into their query, so LIMIT counts only rows that
    pass them. `group_in_acl` is the dialect's "the group :gN is in c.acl" with `{g}` for
    the parameter's name; every value is a bound parameter."""
    join = ""
    where: list[str] = []
    params: dict[str, object] = {}
    if access is not None or source_prefix or document_ids:
        join = f"JOIN chunks c ON c.id = {chunk_id}"
    if access is not None:
        where.append("c.tenant = :tenant")
        params["tenant"] = access.tenant
        visible = "c.acl = '[]'"
        for i, group in enumerate(access.groups):
            params[f"g{i}"] = group
            visible += " OR " + group_in_acl.format(g=f"g{i}")
        where.append(f"({visible})")
    if source_prefix or document_ids:
        join += " JOIN documents d ON d.id = c.document_id"
    if source_prefix:
        where.append("substr(d.source, 1, :plen) = :prefix")
        params.update(prefix=source_prefix, plen=len(source_prefix))
    ids = list(document_ids) if document_ids else None
    if ids:
        where.append("d.id IN :ids")
    return _Filters(join, where, params, ids)


def _run(
    conn: Connection, sql: str, f: _Filters, params: dict[str, object], sign: float = 1.0
) -> list[TextHit]:
    stmt = text(sql)
    if f.document_ids:
        stmt = stmt.bindparams(bindparam("ids", expanding=True))
        params = {**params, "ids": f.document_ids}
    return [TextHit(int(r[0]), sign * float(r[1])) for r in conn.execute(stmt, params).all()]


class SqliteFts(TextIndex):
    def __init__(self, engine: Engine, max_df: float = 1.0, min_common_rows: int = 1000) -> None:
        self.engine = engine
        self.term_stats = TermStats(max_df, min_common_rows, self)

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
        f = _filters(
            "chunks_fts.rowid",
            source_prefix,
            document_ids,
            access,
            "EXISTS (SELECT 1 FROM json_each(c.acl) WHERE json_each.value = :{g})",
        )
        sql = (
            "SELECT chunks_fts.rowid, bm25(chunks_fts, 2.0, 1.0) AS s "
            f"FROM chunks_fts {f.join} WHERE {' AND '.join(['chunks_fts MATCH :q', *f.where])} "
            "ORDER BY s LIMIT :n"
        )
        # FTS5's bm25() is "lower is better"; flip it so every retriever agrees.
        return _run(conn, sql, f, {**f.params, "q": fts_query(terms), "n": limit}, sign=-1.0)

    def rows(self, conn: Connection) -> int:
        return int(conn.execute(text("SELECT count(*) FROM chunks_fts_docsize")).scalar_one())

    def matching(self, conn: Connection, term: str, cap: int) -> int:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM chunks_fts "
                    "WHERE chunks_fts MATCH :q LIMIT :cap)"
                ),
                {"q": f'"{term}"', "cap": cap},
            ).scalar_one()
        )


# PostgreSQL's text search configuration for chunks and queries. 'english' (Snowball
# stemming and stopwords) is the nearer match to FTS5's porter tokenizer, and on the KB bench
# it finds more than 'simple' (recall@10 0.666 against 0.620, bench/bench_fulltext.py,
# BENCHMARKS.md). Changing it needs a re-index.
PG_CONFIG = "english"
# ts_rank_cd's weights in {D, C, B, A} order: the heading (A) counts twice the body (B),
# as bm25(chunks_fts, 2.0, 1.0) does.
PG_WEIGHTS = "{0.1, 0.2, 0.5, 1.0}"
# ts_rank_cd normalisation: divide by 1 + log(number of unique words), so a long chunk does
# not win on length alone (BM25's length normalisation in spirit); the best of the flags on
# the KB bench, level with 1 (1 + log(length)).
PG_NORMALIZATION = 16
# Weigh each word's ts_rank_cd by its idf (BM25's), from the counts query pruning keeps:
# ts_rank_cd alone weighs a word in every other chunk as much as a rare one (KB recall@10
# 0.626 without, 0.666 with; FTS5's bm25 0.667).
PG_IDF = True


class PostgresFts(TextIndex):
    """Active chunks' text as a `tsvector` (heading weighted A, body B) in `chunks_tsv`,
    GIN-indexed (migration m0025). Queries OR the same terms FTS5 gets, every value a bound
    parameter, and rank by `ts_rank_cd` normalised by length, each word's weighed by its
    idf (`idf=False`: one websearch_to_tsquery OR query, plain `ts_rank_cd`)."""

    def __init__(
        self,
        engine: Engine,
        max_df: float = 1.0,
        min_common_rows: int = 1000,
        config: str = PG_CONFIG,
        normalization: int = PG_NORMALIZATION,
        idf: bool = PG_IDF,
    ) -> None:
        self.engine = engine
        self.config = config
        self.normalization = normalization
        self.idf = idf
        self.term_stats = TermStats(max_df, min_common_rows, self)

    def add(self, conn: Connection, rows: Sequence[tuple[int, str, str]]) -> None:
        if rows:
            conn.execute(
                text(
                    "INSERT INTO chunks_tsv (chunk_id, tsv) VALUES (:id, "
                    "setweight(to_tsvector(CAST(:cfg AS regconfig), :h), 'A') || "
                    "setweight(to_tsvector(CAST(:cfg AS regconfig), :t), 'B'))"
                ),
                [{"id": r[0], "h": r[1], "t": r[2], "cfg": self.config} for r in rows],
            )

    def remove(self, conn: Connection, chunk_ids: Sequence[int]) -> None:
        if chunk_ids:
            conn.execute(
                text("DELETE FROM chunks_tsv WHERE chunk_id IN :ids").bindparams(
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
        """Best `ts_rank_cd` matches (higher is better); filters are part of the query, as
        in SqliteFts."""
        terms = query_terms(query)
        if not terms:
            return []
        with self.engine.connect() as conn:
            picked = self.term_stats.pick(conn, terms, frequencies=self.idf)
            f = _filters(
                "t.chunk_id",
                source_prefix,
                document_ids,
                access,
                "EXISTS (SELECT 1 FROM json_array_elements_text(CAST(c.acl AS json)) AS g(v) "
                "WHERE g.v = :{g})",
            )
            params: dict[str, object] = {
                **f.params,
                "cfg": self.config,
                "w": PG_WEIGHTS,
                "norm": self.normalization,
                "n": limit,
            }
            if self.idf:
                # One GIN lookup per word; a row's score is the sum over the words it holds
                # of the word's idf times its ts_rank_cd, so a rare word outweighs a
                # common one as in BM25 (ts_rank_cd alone weighs every word the same).
                sql = (
                    "SELECT t.chunk_id, sum(q.idf * ts_rank_cd(CAST(:w AS real[]), t.tsv, q.q, "
                    ":norm)) AS s FROM (SELECT plainto_tsquery(CAST(:cfg AS regconfig), u.term) "
                    "AS q, u.idf FROM unnest(CAST(:terms AS text[]), CAST(:idfs AS float8[])) "
                    "AS u(term, idf)) AS q JOIN chunks_tsv t ON t.tsv @@ q.q "
                    f"{f.join} WHERE {' AND '.join(['numnode(q.q) > 0', *f.where])} "
                    "GROUP BY t.chunk_id ORDER BY s DESC, t.chunk_id LIMIT :n"
                )
                params["terms"] = picked.terms
                params["idfs"] = [picked.idf(t) for t in picked.terms]
                return _run(conn, sql, f, params)
            # The terms are \w+ words without stopwords ("or" among them), so websearch
            # syntax reads "a or b" as exactly the OR of the words; it never raises on input.
            sql = (
                "SELECT t.chunk_id, ts_rank_cd(CAST(:w AS real[]), t.tsv, q.q, :norm) AS s "
                "FROM chunks_tsv t "
                "CROSS JOIN websearch_to_tsquery(CAST(:cfg AS regconfig), :q) AS q(q) "
                f"{f.join} WHERE {' AND '.join(['t.tsv @@ q.q', *f.where])} "
                "ORDER BY s DESC, t.chunk_id LIMIT :n"
            )
            params["q"] = " or ".join(picked.terms)
            return _run(conn, sql, f, params)

    def rows(self, conn: Connection) -> int:
        return int(conn.execute(text("SELECT count(*) FROM chunks_tsv")).scalar_one())

    def matching(self, conn: Connection, term: str, cap: int) -> int:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM chunks_tsv WHERE tsv @@ "
                    "plainto_tsquery(CAST(:cfg AS regconfig), :t) LIMIT :cap) AS m"
                ),
                {"cfg": self.config, "t": term, "cap": cap},
            ).scalar_one()
        )


class TermCounter(Protocol):
    def rows(self, conn: Connection) -> int: ...
    def matching(self, conn: Connection, term: str, cap: int) -> int: ...


class TermStats:
    """Drops very common words from a BM25 query when rarer ones remain.

    Both indexes rank every row that matches any OR-ed term (FTS5's bm25(), PostgreSQL's
    ts_rank_cd), so one word found in half the corpus makes a query score half the corpus;
    its idf is so low that leaving it out barely changes the ranking of rows that match the
    rare words (Lucene's "common terms" idea). Counts are capped (only "more than the
    limit" matters) and cached until the index generation moves."""

    def __init__(self, max_df: float, min_common_rows: int, counter: TermCounter) -> None:
        self.max_df = max_df
        self.counter = counter
        # Small corpora never prune: every query is cheap there and each word counts.
        self.min_common_rows = min_common_rows
        self._generation: str | None = None
        self._rows = 0
        self._limit = 0
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def selective(self, conn: Connection, terms: list[str]) -> list[str]:
        return self.pick(conn, terms).terms

    def pick(self, conn: Connection, terms: list[str], frequencies: bool = False) -> Picked:
        """The terms to query; with `frequencies`, also how many rows hold each kept term
        (exact, except when every term was common: then capped) and the index's size."""
        prune = self.max_df < 1.0 and len(terms) >= 2
        if not prune and not frequencies:
            return Picked(terms, {}, 0)
        generation = conn.execute(
            text("SELECT value FROM meta WHERE key = 'index_generation'")
        ).scalar()
        with self._lock:
            if generation != self._generation:
                self._rows = self.counter.rows(conn)
                self._limit = max(int(self.max_df * self._rows), self.min_common_rows)
                self._counts = {}
                self._generation = generation
            rows, counts = self._rows, dict(self._counts)
            # Without pruning a count is wanted exactly, so its cap is the whole index.
            limit = self._limit if prune else rows
        for term in terms:
            if term not in counts or (not prune and counts[term] > limit):
                counts[term] = self.counter.matching(conn, term, limit + 1)
        with self._lock:
            if generation == self._generation:
                self._counts.update(counts)
        if not prune:
            return Picked(terms, counts, rows)
        rare = [t for t in terms if counts[t] <= limit]
        # Only common words: keep the two least common rather than match nothing.
        return Picked(rare or sorted(terms, key=lambda t: counts[t])[:2], counts, rows)


@dataclass(frozen=True)
class Picked:
    terms: list[str]
    counts: dict[str, int]  # rows holding each term (empty unless asked for or pruning)
    rows: int  # rows in the index (0 when not counted)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency (Robertson-Sparck Jones, kept positive)."""
        df = min(self.counts.get(term, 0), self.rows)
        return math.log(1.0 + (self.rows - df + 0.5) / (df + 0.5))
