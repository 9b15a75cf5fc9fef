"""Normalisation, dates, near-duplicate signatures and chunking strategies (no model)."""

from __future__ import annotations

import numpy as np

from lockgate.ingest import neardup, strategies
from lockgate.ingest.dates import find_dates, to_iso
from lockgate.ingest.normalize import normalize, strip_boilerplate
from lockgate.ingest.quality import Declared, resolve_declared
from lockgate.ingest.text_decode import decode_bytes, detect_encoding
from lockgate.ingest.types import Block, ParsedDocument


def test_dates_found_and_normalised_to_iso() -> None:
    text = (
        "Effective date: 1st March 2024. Reviewed on March 5, 2024 and 2024-06-30. "
        "Old form 03/04/2023, US-only 04/13/2023, Q3 is September 2024. Not a date: 2024-13-45."
    )
    found = {(d.text, d.iso) for d in find_dates(text)}
    assert ("1st March 2024", "2024-03-01") in found
    assert ("March 5, 2024", "2024-03-05") in found
    assert ("2024-06-30", "2024-06-30") in found
    assert ("03/04/2023", "2023-04-03") in found  # day first by default
    assert ("04/13/2023", "2023-04-13") in found  # 13 cannot be a month
    assert ("September 2024", "2024-09") in found
    assert not any(iso.startswith("2024-13") for _, iso in found)
    assert find_dates("Effective date: 1 March 2024")[0].label == "effective"
    assert find_dates("Next review: 2025-01-31")[0].label == "review"
    assert to_iso("D:20240301120000Z") == "2024-03-01"
    assert to_iso("2024-03-01T10:00:00Z") == "2024-03-01"
    assert to_iso("31.12.2024") == "2024-12-31"


def test_boilerplate_headers_footers_and_page_numbers_removed() -> None:
    blocks = []
    bodies = [
        "Leave is booked in the portal.",
        "Expenses need receipts.",
        "Laptops are replaced every three years.",
        "Badges open the garage.",
    ]
    for page in range(1, 5):
        blocks += [
            Block("paragraph", "ACME Corp - Internal Handbook", page=page),
            Block("paragraph", bodies[page - 1], page=page),
            Block("paragraph", f"Page {page} of 4", page=page),
        ]
    out, dropped = strip_boilerplate(blocks)
    texts = [b.text for b in out]
    assert dropped == 8
    assert all("ACME" not in t and not t.startswith("Page") for t in texts)
    assert texts == bodies


def test_normalize_hyphenation_language_and_effective_date() -> None:
    doc = ParsedDocument(
        blocks=[
            Block("heading", "Travel policy", level=1),
            Block(
                "paragraph",
                "Last updated: 2 February 2024.\nEmployees book trains through the "
                "approved portal. Reimburse-\nment happens within ten working days after the "
                "claim is approved by a manager.",
            ),
            Block("code", "x = a-\nb"),
        ],
        parser="t",
    )
    n = normalize(doc)
    assert "Reimbursement happens" in n.doc.text
    assert "a-\nb" in n.doc.text  # code is left alone
    assert n.stats["hyphen_joins"] == 1
    assert n.language == "en" and (n.language_score or 0) > 0.9
    assert n.effective_date == "2024-02-02" and "2024-02-02" in n.dates
    german = normalize(
        ParsedDocument(
            [
                Block(
                    "paragraph",
                    "Die Mitarbeiter buchen Bahnreisen über das genehmigte Portal. "
                    "Die Erstattung erfolgt innerhalb von zehn Arbeitstagen.",
                )
            ],
            parser="t",
        )
    )
    assert german.language == "de"
    annotated = normalize(doc, annotate_dates=True)
    assert "2 February 2024 (2024-02-02)" in annotated.doc.text


def test_declared_metadata_merges_front_matter_and_sidecar() -> None:
    decl = resolve_declared(
        {"owner": "Legal", "review_by": "1 January 2020", "date": "2019-05-01"},
        Declared(raw={"owner": "Billing Ops"}, meta_hash="h"),
        day_first=True,
    )
    assert decl.owner == "Billing Ops"  # the sidecar wins
    assert decl.review_by == "2020-01-01" and decl.effective_date == "2019-05-01"


def test_encoding_detection_recognises_cyrillic_and_keeps_cp1252() -> None:
    russian = ("Привет, это тестовый документ на русском языке. " * 3).encode("cp1251")
    assert detect_encoding(russian) == "cp1251"
    assert decode_bytes(russian).startswith("Привет")
    assert detect_encoding("Straße über Köln, café".encode("cp1252")) == "cp1252"
    assert detect_encoding(b"plain") == "utf-8"


POLICY = (
    "Refund policy. Customers on an annual plan can get a full refund within {days} days of "
    "purchase. Monthly plans are not refundable; cancellations take effect at the end of the "
    "billing period. Enterprise contracts terminated early are refunded pro-rated for the "
    "unused months. Refund requests go to the billing team with the invoice number, and are "
    "processed within ten business days to the original payment method."
)


def test_minhash_groups_versions_and_simhash_collapses_chunks() -> None:
    a, b = POLICY.format(days=14), POLICY.format(days=30) + " Questions: billing@example.com."
    other = "Security policy: critical vulnerabilities are patched within seven days. " * 4
    sigs = {1: neardup.minhash(a), 2: neardup.minhash(b), 3: neardup.minhash(other)}
    assert neardup.similarity(sigs[1], sigs[2]) > 0.6
    assert neardup.similarity(sigs[1], sigs[3]) < 0.1
    assert neardup.groups(sigs, 0.6) == [[1, 2]]
    assert np.array_equal(neardup.from_bytes(neardup.to_bytes(sigs[1])), sigs[1])
    ha, hb, ho = neardup.simhash(a), neardup.simhash(b), neardup.simhash(other)
    assert neardup.hamming(ha, hb) <= 10 < neardup.hamming(ha, ho)
    assert neardup.collapse([(7, hb, None), (5, ha, None), (9, ho, None), (4, None, None)], 10) == {
        7: [5],
        9: [],
        4: [],
    }
    # Same document group: a looser bound; otherwise the strict one.
    near = ha ^ 0b111111111111  # 12 bits away
    assert neardup.collapse([(1, ha, 3), (2, near, 3)], 4) == {1: [2]}
    assert neardup.collapse([(1, ha, 3), (2, near, None)], 4) == {1: [], 2: []}
    assert neardup.newest([(1, "2023-01-01", 50.0), (2, "2024-06-01", 10.0)]) == 2
    assert neardup.newest([(1, None, 50.0), (2, None, 10.0)]) == 1


def test_supersession_groups_by_lowest_id_and_supersedes_all_but_the_newest() -> None:
    a, b = POLICY.format(days=14), POLICY.format(days=30) + " Questions: billing@example.com."
    other = "Security policy: critical vulnerabilities are patched within seven days. " * 4
    sigs = {4: neardup.minhash(a), 2: neardup.minhash(b), 3: neardup.minhash(other)}
    dates = {4: ("2023-01-01", 50.0), 2: ("2024-06-01", 10.0), 3: (None, 99.0)}
    found, assign = neardup.supersession(sigs, dates, 0.6)
    assert found == [[2, 4]]
    # Grouped under the lowest id; the later effective date wins over the later mtime.
    assert assign == {2: (2, None), 4: (2, 2)}
    assert neardup.supersession({3: sigs[3]}, {3: (None, 1.0)}, 0.6) == ([], {})


class FakeEmbedder:
    """Topic vectors: sentences about trains point one way, about salaries another."""

    name = "fake"
    dimensions = 2

    def embed(self, texts):
        vecs = [[1.0, 0.0] if "train" in t.lower() else [0.0, 1.0] for t in texts]
        return np.array(vecs, np.float32)


def _paged_doc() -> ParsedDocument:
    return ParsedDocument(
        blocks=[
            Block("heading", "Guide", level=1, page=1),
            Block("paragraph", "Page one text. " * 20, page=1),
            Block("paragraph", "Page two text. " * 20, page=2),
            Block(
                "paragraph",
                "Trains leave hourly. The train is red. Trains are cheap. "
                "Salaries are paid monthly. Salary slips are online. Salaries rise yearly.",
                page=3,
            ),
        ],
        parser="t",
        pages=3,
    )


def test_strategies_fixed_page_and_semantic() -> None:
    doc = _paged_doc()
    fixed = strategies.chunk_document(doc, "fixed", 200, 40)
    assert all(len(c.text) <= 200 for c in fixed) and len(fixed) > 3
    assert fixed[0].char_start == 0 and fixed[1].char_start < 200  # windows overlap
    paged = strategies.chunk_document(doc, "page", 2000, 100)
    assert [c.page for c in paged] == [1, 2, 3]  # never spans pages
    assert paged[1].heading_path == ("Guide",)  # the heading carries over
    semantic = strategies.chunk_document(doc, "semantic", 400, 0, FakeEmbedder())
    last = [c.text for c in semantic if "Trains" in c.text or "Salar" in c.text]
    assert any(t.startswith("Trains") and "Salar" not in t for t in last)
    assert any(t.startswith("Salaries") for t in last)
    assert strategies.chunk_document(doc, "structure", 2000, 100)
