"""The full-text index of the store's dialect (FTS5 on SQLite, tsvector on PostgreSQL with
LOCKGATE_TEST_STORE=postgresql): query pruning (words found in most chunks leave the query
when rarer words remain, never when they are all there is, and counts follow the index as it
changes), the weighted heading field, stemming, OR semantics, ranking and hostile input."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from lockgate.services import Services
from lockgate.store.access import Access
from lockgate.store.documents import NewChunk, VersionInfo
from lockgate.store.fulltext import PostgresFts, SqliteFts, TextIndex, query_terms
from tests.conftest import make_settings


def _index(services: Services, **kw: float) -> SqliteFts | PostgresFts:
    """An index of the same kind as the store's, with other pruning settings."""
    kind = type(services.text_index)
    assert kind in (SqliteFts, PostgresFts)
    return kind(services.engine, **kw)  # type: ignore[arg-type]


def _doc(services: Services, source: str, texts: list[str]) -> None:
    info = VersionInfo("h-" + source + texts[0], 1, 0.0, "text", "t", "1", None, None)
    chunks = [NewChunk(i, t, (), None, 0, b"\0" * 16) for i, t in enumerate(texts)]
    services.documents.commit_version(source, info, chunks)


def test_common_words_are_pruned_only_when_rarer_ones_remain(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    texts = [f"policy document number {i} about billing" for i in range(40)]
    texts[7] = "policy document about the zephyr refund window"
    _doc(services, "a.md", texts)
    fts = _index(services, max_df=0.25, min_common_rows=1)
    with services.engine.connect() as conn:
        terms = query_terms("What does the policy document say about the zephyr refund?")
        assert fts.term_stats.selective(conn, terms) == ["say", "zephyr", "refund"]
        # Nothing rare: the two least common words are kept rather than none.
        assert len(fts.term_stats.selective(conn, ["policy", "document", "billing"])) == 2
    hits = fts.search("policy document zephyr", 5)
    assert hits and len(hits) == 1  # only the chunk with the rare word is scored

    # After a re-index the counts are fresh: "zephyr" is now everywhere.
    _doc(services, "a.md", [f"zephyr note {i} with refund" for i in range(40)])
    with services.engine.connect() as conn:
        assert fts.term_stats.selective(conn, ["zephyr", "unique"]) == ["unique"]


def test_small_corpora_are_never_pruned(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    _doc(services, "a.md", [f"policy text {i}" for i in range(30)] + ["policy zephyr"])
    fts = _index(services, max_df=0.05)  # default floor: 1000 matching chunks
    hits = fts.search("policy zephyr", 50)
    assert len(hits) == 31


def test_the_document_title_is_in_the_heading_field(tmp_path: Path) -> None:
    # A PDF's title comes from its metadata, not from a heading: BM25 still sees it, in the
    # weighted heading field, and a chunk whose headings start with it holds it once.
    services = Services(make_settings(tmp_path))
    info = VersionInfo("h-t", 1, 0.0, "pdf", "t", "1", "Travel expenses policy", None)
    chunks = [
        NewChunk(0, "Book trains in second class.", ("Rail",), None, 0, b"\0" * 16),
        NewChunk(
            1, "Keep every receipt.", ("Travel expenses policy", "Claims"), None, 0, b"\0" * 16
        ),
    ]
    services.documents.commit_version("travel.pdf", info, chunks)
    with services.engine.connect() as conn:
        if services.engine.dialect.name == "sqlite":
            headings = [
                r[0] for r in conn.execute(text("SELECT heading FROM chunks_fts ORDER BY rowid"))
            ]
            assert headings == [
                "Travel expenses policy > Rail",
                "Travel expenses policy > Claims",
            ]
        else:
            # The heading field is the A-weighted part of each chunk's tsvector.
            in_heading = conn.execute(
                text(
                    "SELECT count(*) FROM chunks_tsv WHERE tsv @@ to_tsquery('english', "
                    "'travel:A & expenses:A & policy:A')"
                )
            ).scalar_one()
            assert in_heading == 2
    assert len(services.text_index.search("expenses", 5)) == 2


def _texts(services: Services, index: TextIndex, query: str, **kw: object) -> list[str]:
    hits = index.search(query, 10, **kw)  # type: ignore[arg-type]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
    chunks = services.documents.chunks([h.chunk_id for h in hits])
    return [chunks[h.chunk_id].text for h in hits]


def test_terms_are_or_ed_stemmed_and_ranked(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    info = VersionInfo("h-r", 1, 0.0, "text", "t", "1", None, None)
    chunks = [
        NewChunk(0, "Refunds are paid within ten days.", ("Refunds",), None, 0, b"\0" * 16),
        NewChunk(1, "A refund needs the receipt.", ("Receipts",), None, 0, b"\0" * 16),
        NewChunk(2, "Parking is free on Sundays.", ("Parking",), None, 0, b"\0" * 16),
        NewChunk(3, "Keep the receipt of every purchase.", ("Receipts",), None, 0, b"\0" * 16),
    ]
    services.documents.commit_version("policy.md", info, chunks)
    index = services.text_index
    # "refunded" finds "Refunds" and "refund" (stemmed); the word in the weighted heading
    # field ranks first.
    assert _texts(services, index, "refunded") == [chunks[0].text, chunks[1].text]
    # Any of the words is enough (OR), and a chunk with both ranks above one with either.
    both = _texts(services, index, "refund receipt")
    assert both[0] == chunks[1].text and set(both) == {chunks[i].text for i in (0, 1, 3)}
    assert _texts(services, index, "the of and") == []  # stopwords only
    assert _texts(services, index, "zebra") == []


def test_filters_are_part_of_the_query(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    for i, (source, tenant, groups) in enumerate(
        [("kb/a.md", "alpha", ()), ("kb/b.md", "alpha", ("hr",)), ("other/c.md", "beta", ())]
    ):
        info = VersionInfo(f"h-{i}", 1, 0.0, "text", "t", "1", None, None)
        chunk = NewChunk(0, f"orchid note number {i}", (), None, 0, b"\0" * 16)
        services.documents.commit_version(source, info, [chunk], Access.of(tenant, groups))
    index = services.text_index
    ids = {s: r.document_id for s, r in services.documents.known_sources().items()}

    def sources(**kw: object) -> list[str]:
        hits = index.search("orchid", 1, **kw)  # type: ignore[arg-type]
        chunks = services.documents.chunks([h.chunk_id for h in hits])
        return [chunks[h.chunk_id].source for h in hits]

    # limit=1 each time: a filter applied after the LIMIT would leave nothing.
    assert sources(source_prefix="other/") == ["other/c.md"]
    assert sources(document_ids=[ids["kb/b.md"]]) == ["kb/b.md"]
    assert sources(access=Access.of("beta")) == ["other/c.md"]
    assert sources(access=Access.of("alpha")) == ["kb/a.md"]
    assert sources(access=Access.of("alpha", ["hr"]), source_prefix="kb/b") == ["kb/b.md"]
    assert sources(access=Access.of("alpha"), source_prefix="kb/b") == []
    assert sources(access=Access.of("gamma")) == []


def test_hostile_queries_are_words_only(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    info = VersionInfo("h-x", 1, 0.0, "text", "t", "1", None, None)
    chunk = NewChunk(0, "The vault opens at noon.", (), None, 0, b"\0" * 16)
    services.documents.commit_version("v.md", info, [chunk])
    index = services.text_index
    for query in (
        "vault'); DROP TABLE chunks; --",
        'vault" OR "x',
        "vault & !noon | (zebra",
        "vault:* <-> noon:A",
        '-vault "noon',
        "NEAR(vault noon) vault*",
    ):
        hits = index.search(query, 5)
        assert [h.chunk_id for h in hits] == [hits[0].chunk_id], query
    assert services.documents.counts()["chunks"] == 1


def test_a_rare_word_outweighs_a_common_one(tmp_path: Path) -> None:
    # BM25's idf on FTS5; on PostgreSQL each word's ts_rank_cd weighed by its idf (plain
    # ts_rank_cd would score the chunks holding one word each the same).
    services = Services(make_settings(tmp_path))
    texts = [f"The policy covers case {i}." for i in range(8)] + ["A zephyr covers case 9."]
    _doc(services, "p.md", texts)
    assert _texts(services, services.text_index, "policy zephyr")[0] == texts[-1]
