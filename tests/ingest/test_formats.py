"""Spreadsheets, decks, mail, RTF, ODF, EPUB and XML: detected by content, parsed into
blocks that chunk well, and (for mail) attachments ingested as linked documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from lockgate.ingest.chunker import chunk_blocks
from lockgate.ingest.detect import detect_format
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support import formats as f


@pytest.mark.parametrize("fmt", sorted(f.FORMAT_SAMPLES))
def test_detected_by_content_whatever_the_name(fmt: str) -> None:
    name, make = f.FORMAT_SAMPLES[fmt]
    data = make()
    assert detect_format(data, name) == fmt
    assert detect_format(data, "upload.bin") == fmt


def test_spreadsheet_merged_header_repeated_in_every_chunk() -> None:
    doc = parse_bytes(f.xlsx_with_merged_header(rows=40), "sales.xlsx")
    headings = [b.text for b in doc.blocks if b.kind == "heading"]
    assert headings == ["Sheet: Sales", "Sheet: Staff"]  # the empty sheet is skipped
    sales = next(b for b in doc.blocks if b.kind == "table" and b.page == 1)
    header = sales.text.split("\n")[0]
    # Merged group titles are folded into the column names they stand over.
    assert header == "| Region | Q1 Units | Q1 Revenue | Q2 Units | Q2 Revenue |"
    assert "| Northwind | 100 | 2500.5 | 120 | 3100 |" in sales.text
    staff = next(b for b in doc.blocks if b.kind == "table" and b.page == 2)
    assert "| Ada Quist | Warehouse lead | 2021-03-01 |" in staff.text
    chunks = chunk_blocks(doc.blocks, target_chars=300, overlap_chars=0)
    sales_chunks = [c for c in chunks if c.heading_path == ("Sheet: Sales",)]
    assert len(sales_chunks) > 2
    assert all(c.text.startswith(header) for c in sales_chunks)  # each chunk stands alone
    assert all(c.page == 1 for c in sales_chunks)  # and never mixes two sheets
    assert doc.pages == 3 and doc.metadata["sheets"] == "Sales,Staff,Empty"


def test_ods_spans_and_padding_rows() -> None:
    doc = parse_bytes(f.ods_document(), "depots.ods")
    table = next(b for b in doc.blocks if b.kind == "table").text
    # 1,048,000 padding rows of 1,024 empty cells collapse to nothing.
    assert table.split("\n") == [
        "| Depot Name | Depot City | Capacity Pallets |",
        "| North hub | Groningen | 1800 |",
    ]


def test_deck_per_slide_with_notes() -> None:
    doc = parse_bytes(f.pptx_with_notes(), "review.pptx")
    by_slide: dict[int | None, list[str]] = {}
    for b in doc.blocks:
        by_slide.setdefault(b.page, []).append(b.text)
    assert by_slide[1][0] == "Slide 1: Quarterly logistics review"
    assert any("Tilburg depot closes on 30 June" in t for t in by_slide[1])
    assert any(t.startswith("Speaker notes:") for t in by_slide[2])
    assert "| Velox | 41 EUR |" in "\n".join(by_slide[2])
    assert doc.pages == 2


def test_eml_headers_as_metadata_and_body() -> None:
    doc = parse_bytes(f.eml_with_attachment(), "certs.eml")
    assert doc.title == "Forklift certificates"
    assert doc.metadata["from"] == "Ines Marchetti <ines@example.com>"
    assert doc.metadata["date"] == "2024-05-06T09:30:00+00:00"
    assert "expire after 36 months" in doc.text
    assert [a.name for a in doc.attachments] == ["renewals.csv"]


def test_mbox_messages_and_attachments() -> None:
    doc = parse_bytes(f.mbox_with_attachment(), "ops.mbox")
    assert doc.metadata["messages"] == "2"
    assert [b.text for b in doc.blocks if b.kind == "heading"] == [
        "Holiday rota",
        "Inspection checklist",
    ]
    # mboxo escaping undone: the body line really starts with "From now on".
    assert any(b.text.startswith("From now on") for b in doc.blocks)
    assert [a.name for a in doc.attachments] == ["2/checklist.pdf"]
    assert doc.attachments[0].data.startswith(b"%PDF")


def test_rtf_odt_epub_xml() -> None:
    rtf = parse_bytes(f.rtf_document(), "allowance.rtf")
    assert "allowance of 18 percent" in rtf.text and "\\par" not in rtf.text
    odt = parse_bytes(f.odt_document(), "cold.odt")
    assert [b.kind for b in odt.blocks][:2] == ["heading", "paragraph"]
    assert "longer than ninety seconds" in odt.text
    assert "- Insulated boots" in odt.text
    epub = parse_bytes(f.epub_book(), "handbook.epub")
    assert epub.title == "Driver Handbook"
    assert epub.text.index("Rest periods") < epub.text.index("Fuel cards")  # spine order
    xml = parse_bytes(f.xml_document(), "catalog.xml")
    assert "name: Pallet wrap" in xml.text and "item SKU-207" in xml.text
    assert "root:" not in xml.text  # the external entity was not resolved


def test_legacy_xls_is_read() -> None:
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheet = book.add_sheet("Fleet")
    for r, row in enumerate((("Truck", "Capacity"), ("DAF XF", "24 t"))):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    import io

    buf = io.BytesIO()
    book.save(buf)
    doc = parse_bytes(buf.getvalue(), "fleet.xls")
    assert "| DAF XF | 24 t |" in doc.text


@pytest.fixture
def services(tmp_path: Path, embedder: MiniLMEmbedder) -> Services:
    return make_services(make_settings(tmp_path / "home"), embedder)


def ingestor(services: Services) -> Ingestor:
    return Ingestor(
        services.documents, services.runs, services.embedder, services.settings.ingest
    )


def test_mail_attachment_is_its_own_linked_document(
    tmp_path: Path, services: Services
) -> None:
    root = tmp_path / "mail"
    root.mkdir()
    (root / "ops.mbox").write_bytes(f.mbox_with_attachment())
    summary = ingestor(services).run([str(root)])
    assert (summary.new, summary.members, summary.quarantined) == (2, 1, 0)
    mbox = str((root / "ops.mbox").resolve())
    child = mbox + "#2/checklist.pdf"
    with services.engine.connect() as conn:
        rows = {
            r.source: r
            for r in conn.execute(
                text(
                    "SELECT d.id, d.source, d.parent_document_id, v.format, v.parse_metadata "
                    "FROM documents d JOIN document_versions v ON v.id = d.current_version_id"
                )
            )
        }
    assert rows[child].parent_document_id == rows[mbox].id
    assert rows[child].format == "pdf"
    meta = json.loads(rows[mbox].parse_metadata)
    assert meta["messages"] == "2" and meta["members"] == ["2/checklist.pdf"]
    hits = services.retriever.search("code for logging the pallet crush inspection", 3).chunks
    assert hits[0].source == child
    # Unchanged mailbox: nothing re-parsed, the attachment stays.
    again = ingestor(services).run([str(root)])
    assert again.unchanged == 1 and again.new == 0
    assert services.documents.known_sources()[child].status == "active"
    # Pruning keeps members of files that are still there.
    pruned = ingestor(services).run([str(root)], prune=True)
    assert pruned.retired == 0
