"""BM25 query pruning: words found in most chunks leave the FTS5 query when rarer words
remain, never when they are all there is, and counts follow the index as it changes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from lockgate.services import Services
from lockgate.store.documents import NewChunk, VersionInfo
from lockgate.store.fulltext import SqliteFts, query_terms
from tests.conftest import make_settings


def _doc(services: Services, source: str, texts: list[str]) -> None:
    info = VersionInfo("h-" + source + texts[0], 1, 0.0, "text", "t", "1", None, None)
    chunks = [NewChunk(i, t, (), None, 0, b"\0" * 16) for i, t in enumerate(texts)]
    services.documents.commit_version(source, info, chunks)


def test_common_words_are_pruned_only_when_rarer_ones_remain(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    texts = [f"policy document number {i} about billing" for i in range(40)]
    texts[7] = "policy document about the zephyr refund window"
    _doc(services, "a.md", texts)
    fts = SqliteFts(services.engine, max_df=0.25, min_common_rows=1)
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
    fts = SqliteFts(services.engine, max_df=0.05)  # default floor: 1000 matching chunks
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
        headings = [
            r[0] for r in conn.execute(text("SELECT heading FROM chunks_fts ORDER BY rowid"))
        ]
    assert headings == ["Travel expenses policy > Rail", "Travel expenses policy > Claims"]
    assert len(services.text_index.search("expenses", 5)) == 2
