"""Structure-aware chunking: sections, whole tables/code, sentence splits, overlap."""

from __future__ import annotations

import re

from lockgate.ingest.chunker import chunk_blocks
from lockgate.ingest.types import Block, ChunkDraft, ParsedDocument


def sentences(prefix: str, n: int) -> str:
    return " ".join(f"{prefix} sentence number {i} talks about topic {i}." for i in range(n))


def h(text: str, level: int, page: int | None = None) -> Block:
    return Block("heading", text, level=level, page=page)


def p(text: str, page: int | None = None) -> Block:
    return Block("paragraph", text, page=page)


def shared_overlap(prev: str, nxt: str) -> str:
    """Longest prefix of `nxt` that is also a suffix of `prev`."""
    return next(
        (nxt[:k] for k in range(min(len(prev), len(nxt)), 0, -1) if prev.endswith(nxt[:k])), ""
    )


def check_invariants(chunks: list[ChunkDraft], max_chars: int) -> None:
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.text.strip() for c in chunks)
    assert all(len(c.text) <= max_chars for c in chunks)


def test_heading_paths_and_sections_kept_apart() -> None:
    blocks = [
        h("Guide", 1),
        p("Intro text."),
        h("Install", 2),
        p("Install text."),
        h("Linux", 3),
        p("Linux text."),
        h("Usage", 2),
        p("Usage text."),
        h("Appendix", 1),
        h("Empty section", 2),
        h("Notes", 2),
        p("Notes text."),
    ]
    chunks = chunk_blocks(blocks)
    check_invariants(chunks, 2000)
    assert [(c.text, c.heading_path) for c in chunks] == [
        ("Intro text.", ("Guide",)),
        # a level-3 heading does not split a small section; it stays inline as context
        ("Install text.\n\nLinux\nLinux text.", ("Guide", "Install")),
        ("Usage text.", ("Guide", "Usage")),
        ("Notes text.", ("Appendix", "Notes")),
    ]


def test_deep_heading_at_chunk_start_goes_into_path() -> None:
    chunks = chunk_blocks([h("A", 1), h("B", 2), h("C", 3), p("Body.")])
    assert [(c.text, c.heading_path) for c in chunks] == [("Body.", ("A", "B", "C"))]


def test_blocks_are_packed_up_to_target() -> None:
    paras = [p(f"Paragraph {i}. " + "x" * 280) for i in range(10)]
    chunks = chunk_blocks(paras, target_chars=1000, overlap_chars=0)
    check_invariants(chunks, 1000)
    # 3 paragraphs (~295 chars each) fit in 1000, a 4th would not
    assert [c.text.count("Paragraph") for c in chunks] == [3, 3, 3, 1]


def test_table_kept_whole_when_it_fits_max_chars() -> None:
    table = "| name | value |\n" + "\n".join(f"| row{i:03d} | {i * 7:05d} |" for i in range(60))
    assert 1000 < len(table) <= 2000
    chunks = chunk_blocks([h("Data", 1), p("Before."), Block("table", table), p("After.")])
    assert table in [c.text for c in chunks]
    assert [c.text for c in chunks if "row" in c.text] == [table]


def test_oversized_table_is_split_by_rows_with_header_repeated() -> None:
    header = "| name | value |"
    rows = [f"| row{i:03d} | {i * 7} |" for i in range(300)]
    table = "\n".join([header, *rows])
    chunks = chunk_blocks([Block("table", table)], target_chars=1000)
    check_invariants(chunks, 2000)
    assert len(chunks) > 1
    assert all(c.text.split("\n")[0] == header for c in chunks)
    assert [ln for c in chunks for ln in c.text.split("\n")[1:]] == rows  # every row once


def test_code_block_kept_whole_and_oversized_code_split_by_lines() -> None:
    code = "\n".join(f"    call_{i}(argument={i})" for i in range(50))
    assert len(code) > 1000
    chunks = chunk_blocks([p("Intro."), Block("code", code)])
    assert chunks[-1].text == code
    long_code = "\n".join(f"line_{i} = compute({i})" for i in range(200))
    pieces = chunk_blocks([Block("code", long_code)], target_chars=500)
    check_invariants(pieces, 1000)
    assert "\n".join(c.text for c in pieces) == long_code


def test_long_paragraph_split_at_sentences_with_overlap() -> None:
    text = sentences("Alpha", 40)  # ~2000 chars, one paragraph
    chunks = chunk_blocks([h("Sec", 1), p(text)], target_chars=600, overlap_chars=120)
    check_invariants(chunks, 1200)
    assert len(chunks) >= 3
    assert all(c.heading_path == ("Sec",) for c in chunks)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert nxt.text.endswith(".")  # cut at sentence ends
        # overlap: the next chunk opens with a tail of the previous one, cut at a sentence
        overlap = shared_overlap(prev.text, nxt.text)
        assert overlap.startswith("Alpha sentence") and overlap.endswith(".")
        assert 60 <= len(overlap) <= 180
    # every sentence survives in order
    seen = re.findall(r"number (\d+)", " ".join(c.text for c in chunks))
    assert sorted(set(map(int, seen))) == list(range(40))


def test_overlap_between_packed_paragraphs_but_not_across_sections() -> None:
    blocks = [
        h("One", 1),
        *[p(sentences(f"P{i}", 3)) for i in range(6)],
        h("Two", 1),
        p("Fresh start."),
    ]
    chunks = chunk_blocks(blocks, target_chars=400, overlap_chars=80)
    first_section = [c for c in chunks if c.heading_path == ("One",)]
    assert len(first_section) >= 2
    for prev, nxt in zip(first_section, first_section[1:], strict=False):
        overlap = shared_overlap(prev.text, nxt.text)
        assert 40 <= len(overlap) <= 160
        assert overlap[0].isupper() and overlap.endswith(".")  # whole sentences
    assert shared_overlap(chunks[-2].text, chunks[-1].text) == ""
    assert chunks[-1].text == "Fresh start."
    assert chunks[-1].heading_path == ("Two",)


def test_page_and_char_start() -> None:
    blocks = [
        h("Report", 1, page=1),
        p(sentences("First", 8), page=1),
        p(sentences("Second", 8), page=2),
        Block("table", "| a | b |\n" + "\n".join(f"| {i} | {i * i} |" for i in range(20)), page=3),
    ]
    doc = ParsedDocument(blocks=blocks, parser="pdf")
    chunks = chunk_blocks(blocks, target_chars=450, overlap_chars=0)
    assert [c.page for c in chunks] == [1, 2, 3]
    for chunk in chunks:
        assert doc.text[chunk.char_start :].startswith(chunk.text[:40])


def test_char_start_skips_overlap_prefix() -> None:
    text = sentences("Beta", 30)
    doc = ParsedDocument(blocks=[p(text)], parser="text")
    chunks = chunk_blocks(doc.blocks, target_chars=500, overlap_chars=100)
    for chunk in chunks[1:]:
        own = doc.text[chunk.char_start : chunk.char_start + 30]
        assert own in chunk.text
        assert not chunk.text.startswith(own)  # the overlap comes first


def test_list_items_join_compactly() -> None:
    blocks = [Block("list_item", "- a"), Block("list_item", "  - nested"), p("After.")]
    assert [c.text for c in chunk_blocks(blocks)] == ["- a\n  - nested\n\nAfter."]


def test_deterministic_and_no_empty_chunks() -> None:
    blocks = [h("X", 1), p("   "), p(sentences("Gamma", 50)), Block("code", "\n\n")]
    first = chunk_blocks(blocks, target_chars=300, overlap_chars=50)
    assert first == chunk_blocks(blocks, target_chars=300, overlap_chars=50)
    check_invariants(first, 600)


def test_headings_only_document_still_yields_a_chunk() -> None:
    assert [c.text for c in chunk_blocks([h("Only", 1), h("Titles", 2)])] == ["Only\nTitles"]
    assert chunk_blocks([]) == []


def test_unbreakable_word_is_hard_cut() -> None:
    chunks = chunk_blocks([p("y" * 2500)], target_chars=1000, overlap_chars=0)
    check_invariants(chunks, 2000)
    assert "".join(c.text for c in chunks) == "y" * 2500
