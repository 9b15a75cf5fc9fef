"""Office, mail, ebook and archive fixtures built in code, with known contents.

Used by tests/ingest/test_formats.py, test_archives.py and bench/bench_formats.py.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime

from tests.support.scans import text_pdf


def xlsx_with_merged_header(rows: int = 6) -> bytes:
    """Two sheets. 'Sales' has a two-row header: Region (merged down A1:A2) and the group
    titles 'Q1' (B1:C1) and 'Q2' (D1:E1) merged over Units/Revenue column titles."""
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Sales"
    ws["A1"] = "Region"
    ws.merge_cells("A1:A2")
    ws["B1"] = "Q1"
    ws.merge_cells("B1:C1")
    ws["D1"] = "Q2"
    ws.merge_cells("D1:E1")
    for col, title in zip("BCDE", ("Units", "Revenue", "Units", "Revenue"), strict=True):
        ws[f"{col}2"] = title
    regions = ["Northwind", "Southport", "Eastvale", "Westmarch", "Highland", "Lowmoor"]
    for i in range(rows):
        ws.append([regions[i % len(regions)] + (f" {i}" if i >= 6 else ""),
                   100 + i, 2500.5 + i, 120 + i, 3100 + i])
    staff = book.create_sheet("Staff")
    staff.append(["Name", "Role", "Start date"])
    staff.append(["Ada Quist", "Warehouse lead", dt.date(2021, 3, 1)])
    staff.append(["Bo Lindqvist", "Dispatcher", dt.date(2023, 9, 15)])
    book.create_sheet("Empty")
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def pptx_with_notes() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    title_only = deck.slide_layouts[5]
    bullets = deck.slide_layouts[1]
    s1 = deck.slides.add_slide(bullets)
    s1.shapes.title.text = "Quarterly logistics review"
    s1.placeholders[1].text_frame.text = "Deliveries grew in every region"
    para = s1.placeholders[1].text_frame.add_paragraph()
    para.text = "Returns fell to two percent"
    para.level = 1
    s1.notes_slide.notes_text_frame.text = (
        "Mention that the Tilburg depot closes on 30 June for the forklift upgrade."
    )
    s2 = deck.slides.add_slide(title_only)
    s2.shapes.title.text = "Carrier costs"
    table = s2.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate((("Carrier", "Cost per pallet"), ("Velox", "41 EUR"),
                             ("Stratus", "38 EUR"))):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    s2.notes_slide.notes_text_frame.text = "Stratus is cheaper but misses Sunday pickups."
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def mail_message(
    subject: str,
    body: str,
    attachments: Sequence[tuple[str, bytes, str]] = (),
    sender: str = "Ines Marchetti <ines@example.com>",
    to: str = "ops@example.com",
    when: dt.datetime | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or dt.datetime(2024, 5, 6, 9, 30, tzinfo=dt.UTC))
    msg["Message-ID"] = f"<{abs(hash(subject))}@example.com>"
    msg.set_content(body)
    for name, data, ctype in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def attachment_pdf() -> bytes:
    return text_pdf([[
        "Pallet inspection checklist.",
        "Every inbound pallet is inspected for crush damage within two hours of arrival "
        "at the Tilburg depot, and the result is logged under the code PAL-CHK-7.",
    ]])


def mbox_with_attachment() -> bytes:
    """Two messages; the second carries a PDF attachment whose text is only in the PDF."""
    m1 = mail_message(
        "Holiday rota", "The holiday rota for August is attached to the wiki.\nRegards, Ines"
    )
    m2 = mail_message(
        "Inspection checklist",
        "Hi all,\n\nFrom now on please follow the attached checklist.\n\nThanks, Ines",
        attachments=[("checklist.pdf", attachment_pdf(), "application/pdf")],
        when=dt.datetime(2024, 5, 7, 14, 0, tzinfo=dt.UTC),
    )
    out = bytearray()
    for msg in (m1, m2):
        raw = msg.as_bytes(policy=msg.policy.clone(linesep="\n"))
        # mboxo: body lines that start with "From " are escaped.
        raw = b"\n".join(b">" + ln if ln.startswith(b"From ") else ln for ln in raw.split(b"\n"))
        out += b"From ines@example.com Mon May  6 09:30:00 2024\n" + raw.rstrip(b"\n") + b"\n\n"
    return bytes(out)


def eml_with_attachment() -> bytes:
    msg = mail_message(
        "Forklift certificates",
        "Certificates expire after 36 months; the renewal list is attached.",
        attachments=[("renewals.csv", b"name,expires\nAda Quist,2025-02-01\nBo Lindqvist,"
                      b"2026-07-12\nCy Okafor,2025-11-30\n", "text/csv")],
    )
    return msg.as_bytes()


def corrupt_docx() -> bytes:
    """Starts like a zip, ends nowhere: a docx cut off in transfer."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w:document>" + "x" * 4000)
    return buf.getvalue()[:300]


def zip_with_corrupted_member() -> bytes:
    """good.txt, a folder with a markdown file, a nested zip, a truncated docx, and a member
    whose stored bytes were damaged after writing (bad CRC)."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("deep/note.txt", "The nested archive says the gate code is 4471.")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("good.txt", "Dock doors close at 22:00 on weekdays and 18:00 on Sundays.")
        zf.writestr("policies/returns.md", "# Returns\n\nDamaged pallets are refunded within "
                    "fourteen days of the claim.\n")
        zf.writestr("inner.zip", inner.getvalue())
        zf.writestr("broken.docx", corrupt_docx())
        zf.writestr("crc.txt", "This member will be damaged: " + "lorem ipsum " * 20)
    data = bytearray(buf.getvalue())
    # Flip bytes inside crc.txt's stored data so its CRC no longer matches.
    at = data.find(b"This member will be damaged")
    data[at + 40 : at + 44] = b"XXXX"
    return bytes(data)


def zip_bomb(ratio_mb: int = 50) -> bytes:
    """One member of zeros that deflates ~1000:1."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.txt", b"0" * (ratio_mb * 1024 * 1024))
    return buf.getvalue()


def nested_zip(depth: int) -> bytes:
    data = b"innermost text about the cold store at minus twenty degrees"
    name = "core.txt"
    for i in range(depth):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(name, data)
        data, name = buf.getvalue(), f"level{i}.zip"
    return data


_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
)


def _odf(mimetype: str, body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        zf.writestr(
            "content.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}>'
            f"<office:body>{body}</office:body></office:document-content>",
        )
        zf.writestr("META-INF/manifest.xml", "<manifest/>")
    return buf.getvalue()


def odt_document() -> bytes:
    return _odf(
        "application/vnd.oasis.opendocument.text",
        "<office:text>"
        '<text:h text:outline-level="1">Cold store procedure</text:h>'
        "<text:p>Doors of the cold store must stay shut for longer than"
        "<text:s/>ninety seconds only during loading.</text:p>"
        '<text:h text:outline-level="2">Clothing</text:h>'
        "<text:list><text:list-item><text:p>Thermal gloves</text:p></text:list-item>"
        "<text:list-item><text:p>Insulated boots</text:p></text:list-item></text:list>"
        "</office:text>",
    )


def ods_document() -> bytes:
    return _odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        '<office:spreadsheet><table:table table:name="Depots">'
        "<table:table-row>"
        '<table:table-cell table:number-columns-spanned="2"><text:p>Depot</text:p>'
        "</table:table-cell><table:covered-table-cell/>"
        "<table:table-cell><text:p>Capacity</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>Name</text:p></table:table-cell>"
        "<table:table-cell><text:p>City</text:p></table:table-cell>"
        "<table:table-cell><text:p>Pallets</text:p></table:table-cell></table:table-row>"
        "<table:table-row><table:table-cell><text:p>North hub</text:p></table:table-cell>"
        "<table:table-cell><text:p>Groningen</text:p></table:table-cell>"
        '<table:table-cell office:value-type="float" office:value="1800"><text:p>1800</text:p>'
        "</table:table-cell></table:table-row>"
        '<table:table-row table:number-rows-repeated="1048000"><table:table-cell '
        'table:number-columns-repeated="1024"/></table:table-row>'
        "</table:table></office:spreadsheet>",
    )


def epub_book() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" '
            'media-type="application/oebps-package+xml"/></rootfiles></container>',
        )
        zf.writestr(
            "OEBPS/content.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            "<dc:title>Driver Handbook</dc:title><dc:creator>Fleet Office</dc:creator>"
            "</metadata><manifest>"
            '<item id="c1" href="ch1.xhtml" media-type="application/xhtml+xml"/>'
            '<item id="c2" href="ch2.xhtml" media-type="application/xhtml+xml"/>'
            '</manifest><spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>',
        )
        for name, title, text in (
            ("ch1.xhtml", "Rest periods", "Drivers rest 45 minutes after 4.5 hours driving."),
            ("ch2.xhtml", "Fuel cards", "Fuel cards are renewed every January by the office."),
        ):
            zf.writestr(
                f"OEBPS/{name}",
                '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
                f"<title>{title}</title></head><body><h1>{title}</h1><p>{text}</p>"
                "</body></html>",
            )
    return buf.getvalue()


def rtf_document() -> bytes:
    return (
        rb"{\rtf1\ansi\deff0{\fonttbl{\f0 Times New Roman;}}"
        rb"{\b Night shift allowance}\par "
        rb"Staff working between 22:00 and 06:00 receive an allowance of 18 percent.\par "
        rb"Claims go through the payroll portal.\par}"
    )


def xml_document() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
        b'<catalog><item id="SKU-118"><name>Pallet wrap</name><stock>340</stock>'
        b"<note>&xxe;</note></item>"
        b'<item id="SKU-207"><name>Corner boards</name><stock>75</stock></item></catalog>'
    )


FORMAT_SAMPLES = {
    "xlsx": ("sales.xlsx", xlsx_with_merged_header),
    "pptx": ("review.pptx", pptx_with_notes),
    "eml": ("certs.eml", eml_with_attachment),
    "mbox": ("ops.mbox", mbox_with_attachment),
    "odt": ("cold.odt", odt_document),
    "ods": ("depots.ods", ods_document),
    "epub": ("handbook.epub", epub_book),
    "rtf": ("allowance.rtf", rtf_document),
    "xml": ("catalog.xml", xml_document),
    "zip": ("bundle.zip", zip_with_corrupted_member),
}
