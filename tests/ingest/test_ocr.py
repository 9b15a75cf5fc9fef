"""OCR of scanned PDFs and images: rendered from known text so the words can be scored.

OCR costs seconds per page on two cores, so each fixture is OCR'd once per module and the
policy tests use small images cropped to the text."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.config import OcrConfig
from lockgate.ingest.ocr import chunk_confidences
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.pipeline import Ingestor
from lockgate.ingest.types import ChunkDraft, ParsedDocument, ParseError, ParseOptions
from lockgate.models.minilm import MiniLMEmbedder
from tests.conftest import make_services, make_settings
from tests.support.scans import (
    image_bytes,
    mixed_pdf,
    scan_image,
    scanned_pdf,
    text_pdf,
    word_accuracy,
)

SCANNED = [
    "Cold chain incident procedure.",
    "When a refrigerated trailer reports a temperature above eight degrees for more than "
    "twenty minutes, the shift lead quarantines the load in bay 14 and calls the quality "
    "officer on extension 3307 before any pallet is moved.",
    "The quality officer decides within four hours whether the goods are released, "
    "relabelled or destroyed, and records the decision in the incident log.",
]
TYPED = [
    "Cover letter for the audit file.",
    "This file collects the procedures that the external auditor asked to review this year.",
]
SHORT = ["Gate C closes at 21:00 on Fridays.", "Night deliveries use gate D instead."]


def opts(**ocr: object) -> ParseOptions:
    return ParseOptions(ocr=OcrConfig(**ocr))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def scanned_doc() -> ParsedDocument:
    return parse_bytes(scanned_pdf([SCANNED], dpi=150), "incident.pdf")


@pytest.fixture(scope="module")
def small_png() -> bytes:
    return image_bytes(scan_image(SHORT, crop=True))


def test_scanned_pdf_words_read_with_confidence(scanned_doc: ParsedDocument) -> None:
    assert scanned_doc.parser == "pdf"
    assert word_accuracy(" ".join(SCANNED), scanned_doc.text) >= 0.95
    assert all(b.page == 1 and b.ocr_confidence is not None for b in scanned_doc.blocks)
    assert all(0.8 <= (b.ocr_confidence or 0) <= 1 for b in scanned_doc.blocks)
    assert [p.page for p in scanned_doc.ocr_pages] == [1]
    assert scanned_doc.metadata["ocr_pages"] == "1"
    # Layout: the title line and the two paragraphs come back as separate blocks.
    assert scanned_doc.blocks[0].text.startswith("Cold chain incident procedure")
    assert len(scanned_doc.blocks) >= 2


def test_mixed_pdf_is_handled_page_by_page() -> None:
    doc = parse_bytes(mixed_pdf(TYPED, SCANNED[:2]), "mixed.pdf")
    typed = [b for b in doc.blocks if b.page == 1]
    scanned = [b for b in doc.blocks if b.page == 2]
    assert typed and all(b.ocr_confidence is None for b in typed)  # text layer, no OCR
    assert scanned and all(b.ocr_confidence is not None for b in scanned)
    assert "external auditor" in " ".join(b.text for b in typed)
    assert word_accuracy(" ".join(SCANNED[:2]), " ".join(b.text for b in scanned)) >= 0.95
    assert [p.page for p in doc.ocr_pages] == [2]


def test_text_pdf_never_goes_through_ocr() -> None:
    doc = parse_bytes(text_pdf([TYPED, SCANNED]), "typed.pdf")
    assert doc.ocr_pages == [] and "ocr_pages" not in doc.metadata
    assert all(b.ocr_confidence is None for b in doc.blocks)


def test_skewed_scan_is_tolerated() -> None:
    png = image_bytes(scan_image(SCANNED[:2], rotate=3.0, crop=True))
    doc = parse_bytes(png, "skewed.png")
    assert doc.parser == "image-ocr"
    assert word_accuracy(" ".join(SCANNED[:2]), doc.text) >= 0.9


def test_image_formats_are_read(small_png: bytes) -> None:
    doc = parse_bytes(small_png, "gate.png")
    assert "gate d" in doc.text.lower()
    jpeg = image_bytes(scan_image(SHORT, crop=True), "JPEG")
    tiff = image_bytes(scan_image(SHORT, crop=True), "TIFF")
    for data, name in ((jpeg, "gate.jpg"), (tiff, "gate.tiff")):
        assert word_accuracy(" ".join(SHORT), parse_bytes(data, name).text) >= 0.9


def test_low_confidence_pages_are_flagged_not_indexed(small_png: bytes) -> None:
    # A threshold no real page reaches stands in for a page of garbage.
    with pytest.raises(ParseError) as err:
        parse_bytes(small_png, "gate.png", opts(min_confidence=0.9999))
    assert err.value.reason == "low_ocr_confidence"
    marked = parse_bytes(small_png, "gate.png", opts(min_confidence=0.9999, low_confidence="mark"))
    assert marked.ocr_pages[0].flagged and "gate" in marked.text.lower()
    assert marked.metadata["ocr_low_confidence_pages"] == "1"


def test_ocr_disabled_leaves_scans_unread(small_png: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse_bytes(small_png, "gate.png", opts(enabled=False))
    assert err.value.reason == "unsupported"
    with pytest.raises(ParseError) as err:
        parse_bytes(scanned_pdf([SHORT]), "scan.pdf", opts(enabled=False))
    assert err.value.reason == "no_text"


def test_max_pages_skips_and_records_the_rest() -> None:
    pdf = scanned_pdf([SHORT, ["Second page that is never read."]])
    doc = parse_bytes(pdf, "two.pdf", opts(max_pages=1))
    assert doc.metadata["ocr_skipped_pages"] == "2"
    assert "never read" not in doc.text


def test_chunk_confidence_is_the_lowest_ocr_block_it_covers() -> None:
    from lockgate.ingest.types import Block

    doc = ParsedDocument(
        blocks=[
            Block("paragraph", "typed text", page=1),
            Block("paragraph", "scanned one", page=2, ocr_confidence=0.97),
            Block("paragraph", "scanned two", page=2, ocr_confidence=0.85),
        ],
        parser="pdf",
    )
    drafts = [
        ChunkDraft(0, "typed text", page=1, char_start=0),
        ChunkDraft(1, "scanned one\n\nscanned two", page=2, char_start=12),
    ]
    assert chunk_confidences(doc, drafts) == [None, 0.85]


def test_answer_only_in_scanned_page_is_retrieved(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "incident.pdf").write_bytes(mixed_pdf(TYPED, SCANNED))
    distractors = {
        "leave.md": "# Annual leave\n\nStaff get 25 days of annual leave per calendar year.",
        "parking.md": "# Parking\n\nVisitors park on the north lot next to the reception.",
        "it.md": "# Laptops\n\nLaptops are replaced every four years by the IT desk.",
        "fire.md": "# Fire drill\n\nThe fire drill happens every March; assemble at point B.",
        "canteen.md": "# Canteen\n\nThe canteen serves lunch from 11:30 to 14:00.",
        "travel.md": "# Travel\n\nTrain travel is booked through the travel portal.",
    }
    for name, body in distractors.items():
        (corpus / name).write_text(body)
    services = make_services(make_settings(tmp_path / "home"), embedder)
    ingestor = Ingestor(
        services.documents, services.runs, services.embedder, services.settings.ingest
    )
    summary = ingestor.run([str(corpus)])
    assert summary.quarantined == 0 and summary.ocr_pages == 1
    hits = services.retriever.search(
        "Who must be called when a refrigerated trailer is too warm?", 5
    ).chunks
    # The answer (extension 3307) exists only as pixels on page 2.
    answer = [c for c in hits if "3307" in c.text]
    assert answer, [(Path(c.source).name, c.text[:60]) for c in hits]
    assert Path(answer[0].source).name == "incident.pdf"
    record = services.documents.chunks([answer[0].chunk_id])[answer[0].chunk_id]
    assert 0.8 <= record.extra["ocr_confidence"] <= 1.0


def test_low_confidence_reported_in_ingest_summary(
    tmp_path: Path, embedder: MiniLMEmbedder, small_png: bytes
) -> None:
    from lockgate.config import IngestConfig

    corpus = tmp_path / "scans"
    corpus.mkdir()
    (corpus / "gate.png").write_bytes(small_png)
    services = make_services(make_settings(tmp_path / "home"), embedder)
    for policy, outcome in (("exclude", "quarantined"), ("mark", "new")):
        cfg = IngestConfig(ocr=OcrConfig(min_confidence=0.9999, low_confidence=policy))
        summary = Ingestor(services.documents, services.runs, services.embedder, cfg).run(
            [str(corpus)]
        )
        if outcome == "quarantined":
            # Nothing but a flagged page: recorded with its reason, nothing indexed.
            assert [q.reason for q in summary.quarantined_files] == ["low_ocr_confidence"]
            assert services.documents.counts()["chunks"] == 0
        else:
            assert summary.new == 1
            (low,) = summary.ocr_low_confidence
            assert (low["page"], low["action"]) == (1, "indexed (marked)")
            hit = services.retriever.search("night deliveries gate", 1).chunks[0]
            record = services.documents.chunks([hit.chunk_id])[hit.chunk_id]
            assert record.extra["ocr_confidence"] < 0.9999
