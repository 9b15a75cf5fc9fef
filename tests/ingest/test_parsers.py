"""Every parser against real files built with the real libraries."""

from __future__ import annotations

import io
import json

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from lockgate.ingest.chunker import chunk_blocks
from lockgate.ingest.parsers import REGISTRY, parse_bytes
from lockgate.ingest.types import Block, ParsedDocument, ParseError

LOREM = (
    "Retrieval systems need clean text. Every paragraph here ends with a period. "
    "The parser must keep them apart."
)


class _FooterPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 10, text=f"Acme Handbook - page {self.page_no()}")


def make_pdf(pages: list[list[tuple[str, str]]], footer: bool = False) -> bytes:
    """pages: per page a list of (kind, text); kind "h" is a heading, "p" a paragraph."""
    pdf = _FooterPDF() if footer else FPDF()
    for page in pages:
        pdf.add_page()
        for kind, text in page:
            bold = kind == "h"
            pdf.set_font("Helvetica", style="B" if bold else "", size=16 if bold else 11)
            pdf.multi_cell(0, 8, text=text)
            pdf.ln(6)
    return bytes(pdf.output())


def encrypt(data: bytes, user: str, owner: str) -> bytes:
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user, owner_password=owner)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def kinds(doc: ParsedDocument) -> list[str]:
    return [b.kind for b in doc.blocks]


def parse_error(data: bytes, name: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_bytes(data, name)
    return info.value


# --- PDF -------------------------------------------------------------------------------


def test_pdf_multi_page_sets_pages_and_page_numbers() -> None:
    data = make_pdf(
        [
            [("h", "1 Introduction"), ("p", "Alpha page text. " + LOREM)],
            [("h", "Working hours"), ("p", "Bravo page text. " + LOREM)],
            [("p", "Charlie page text. " + LOREM)],
        ],
        footer=True,
    )
    doc = parse_bytes(data, "report.pdf")
    assert (doc.parser, doc.parser_version, doc.pages) == ("pdf", "3", 3)
    for word, page in (("Alpha", 1), ("Bravo", 2), ("Charlie", 3)):
        [block] = [b for b in doc.blocks if word in b.text]
        assert block.page == page
        assert block.kind == "paragraph"
    headings = [(b.text, b.level, b.page) for b in doc.blocks if b.kind == "heading"]
    assert headings == [("1 Introduction", 1, 1), ("Working hours", 2, 2)]
    assert "Acme Handbook" not in doc.text  # running footer repeated on every page


def test_pdf_paragraphs_are_rebuilt_from_wrapped_lines() -> None:
    long_para = "Wrapped text goes on. " * 30
    doc = parse_bytes(make_pdf([[("p", long_para), ("p", "Second paragraph here.")]]), "w.pdf")
    assert [b.text for b in doc.blocks] == [long_para.strip(), "Second paragraph here."]


MAN_PAGE = [
    "DESCRIPTION",
    "     LogLevel",
    "             Gives the verbosity level that is used when logging messages.  The",
    "             possible values are QUIET, INFO and DEBUG.  The default is INFO.",
    "",
    "     Port    Specifies the port number to connect on the remote host.  The default is 22.",
    "",
    "     Tunnel  Request device forwarding between the client and the server.  The",
    "             argument must be yes or no.",
    "",
    "     Notes   these words start lower case, so they are no description of a term.",
    "             A last line at the body column.",
]


def test_pdf_term_on_its_descriptions_line_is_a_heading_of_its_own() -> None:
    # A manual's short option name shares its line with its description, which starts at
    # the column the longer options' descriptions have on the lines under them.
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    for line in MAN_PAGE:
        pdf.multi_cell(0, 4.2, text=line or " ", new_x="LMARGIN", new_y="NEXT")
    doc = parse_bytes(bytes(pdf.output()), "ssh_config.pdf")
    headings = [b.text for b in doc.blocks if b.kind == "heading"]
    assert headings[:4] == ["DESCRIPTION", "LogLevel", "Port", "Tunnel"]
    [port] = [b for b in doc.blocks if "port number" in b.text]
    assert port.kind == "paragraph" and port.text.startswith("Specifies the port number")
    [tunnel] = [b for b in doc.blocks if "device forwarding" in b.text]
    assert tunnel.text.endswith("argument must be yes or no.")
    assert "Notes" not in headings and any("lower case" in b.text for b in doc.blocks)


def test_pdf_named_txt_is_parsed_as_pdf() -> None:
    doc = parse_bytes(make_pdf([[("p", LOREM)]]), "notes.txt")
    assert doc.parser == "pdf"
    assert "Retrieval systems need clean text." in doc.text


def test_pdf_encrypted_with_user_password_is_quarantined() -> None:
    err = parse_error(encrypt(make_pdf([[("p", LOREM)]]), "secret", "owner"), "locked.pdf")
    assert err.reason == "encrypted"


def test_pdf_with_owner_password_only_is_readable() -> None:
    doc = parse_bytes(encrypt(make_pdf([[("p", LOREM)]]), "", "owner"), "perm.pdf")
    assert "clean text" in doc.text


def test_pdf_truncated_in_the_middle_is_corrupted() -> None:
    data = make_pdf([[("p", f"Page {n}. " + LOREM)] for n in range(4)])
    err = parse_error(data[: len(data) // 2], "cut.pdf")
    assert err.reason == "corrupted"


def test_pdf_garbage_after_header_is_corrupted() -> None:
    assert (
        parse_error(b"%PDF-1.7\n" + b"garbage " * 100 + b"\n%%EOF", "x.pdf").reason == "corrupted"
    )


def test_pdf_without_text_layer_is_no_text() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 100, 100, style="F")  # a "scan": drawing only, no text
    err = parse_error(bytes(pdf.output()), "scan.pdf")
    assert err.reason == "no_text"
    assert "scanned" in err.detail


# --- DOCX ------------------------------------------------------------------------------


def make_docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Handbook", style="Title")
    document.add_heading("Leave policy", level=1)
    document.add_paragraph("Employees accrue leave monthly.")
    document.add_heading("Carry over", level=2)
    document.add_paragraph("First bullet", style="List Bullet")
    document.add_paragraph("Second bullet", style="List Bullet")
    table = document.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Grade", "Days"), ("A", "25"), ("B", "20")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    document.add_paragraph("After the table.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def test_docx_structure() -> None:
    doc = parse_bytes(make_docx(), "handbook.docx")
    assert doc.parser == "docx"
    assert doc.title == "Handbook"
    assert doc.blocks == [
        Block("heading", "Handbook", level=1),
        Block("heading", "Leave policy", level=1),
        Block("paragraph", "Employees accrue leave monthly."),
        Block("heading", "Carry over", level=2),
        Block("list_item", "- First bullet"),
        Block("list_item", "- Second bullet"),
        Block("table", "| Grade | Days |\n| A | 25 |\n| B | 20 |"),
        Block("paragraph", "After the table."),
    ]


def test_docx_with_broken_xml_is_corrupted() -> None:
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(make_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for item in src.infolist():
            body = src.read(item)
            zf.writestr(
                item, b"<w:document><unclosed" if item.filename == "word/document.xml" else body
            )
    assert parse_error(out.getvalue(), "broken.docx").reason == "corrupted"


# --- HTML ------------------------------------------------------------------------------

HTML = b"""<!DOCTYPE html><html><head><title>Team Page</title>
<style>body{color:red}</style><script>var secret = 1;</script></head>
<body><nav><a href="/">Home</a> | <a href="/x">Menu link</a></nav>
<header>Site banner</header>
<h1>Welcome</h1><p>First <b>bold</b> paragraph. Keys use <b>AES</b>.</p>
<div>Loose div text<p>nested para</p></div>
<h2>Lists</h2><ul><li>one</li><li>two<ul><li>two-a</li></ul></li></ul>
<ol><li>first <a href="#">link</a>.</li></ol>
<table><tr><td>Ada</td><td>36</td></tr><thead><tr><th>Name</th><th>Age</th></tr></thead></table>
<pre>def f():
    return 1</pre>
<footer>Copyright</footer><noscript>enable js</noscript></body></html>"""


def test_html_structure_and_boilerplate_removal() -> None:
    doc = parse_bytes(HTML, "team.html")
    assert doc.parser == "html"
    assert doc.title == "Team Page"
    for junk in ("secret", "color", "Menu link", "Site banner", "Copyright", "enable js"):
        assert junk not in doc.text
    assert doc.blocks == [
        Block("heading", "Welcome", level=1),
        Block("paragraph", "First bold paragraph. Keys use AES."),
        Block("paragraph", "Loose div text"),
        Block("paragraph", "nested para"),
        Block("heading", "Lists", level=2),
        Block("list_item", "- one"),
        Block("list_item", "- two"),
        Block("list_item", "  - two-a"),
        Block("list_item", "1. first link."),
        Block("table", "| Name | Age |\n| Ada | 36 |"),
        Block("code", "def f():\n    return 1"),
    ]


def test_html_without_text_is_no_text() -> None:
    data = b"<html><body><script>x()</script><nav>menu</nav></body></html>"
    assert parse_error(data, "empty.html").reason == "no_text"


# --- Markdown --------------------------------------------------------------------------

MARKDOWN = b"""---
title: Front Title
owner: docs
---
Intro before any heading.

Guide
=====

Para *one*
wraps here.

## Setup

- install
- configure
  - nested option
1. numbered

```bash
pip install x

echo done
```

| Key | Value |
|-----|:-----:|
| a   | 1     |
| b   | 2     |

### Deep ###
Done.
"""


def test_markdown_structure() -> None:
    doc = parse_bytes(MARKDOWN, "guide.md")
    assert (doc.parser, doc.title) == ("markdown", "Guide")
    assert doc.metadata == {"title": "Front Title", "owner": "docs"}
    assert doc.blocks == [
        Block("paragraph", "Intro before any heading."),
        Block("heading", "Guide", level=1),
        Block("paragraph", "Para *one*\nwraps here."),
        Block("heading", "Setup", level=2),
        Block("list_item", "- install"),
        Block("list_item", "- configure"),
        Block("list_item", "  - nested option"),
        Block("list_item", "1. numbered"),
        Block("code", "```bash\npip install x\n\necho done\n```"),
        Block("table", "| Key | Value |\n| a | 1 |\n| b | 2 |"),
        Block("heading", "Deep", level=3),
        Block("paragraph", "Done."),
    ]


# --- Text ------------------------------------------------------------------------------


def test_text_paragraphs_and_list_items() -> None:
    data = b"First para line one\nline two.\n\n- apple\n- pear\n  still pear\n\n2. two\n\r\nLast."
    doc = parse_bytes(data, "notes.txt")
    assert doc.parser == "text"
    assert doc.blocks == [
        Block("paragraph", "First para line one\nline two."),
        Block("list_item", "- apple"),
        Block("list_item", "- pear\n  still pear"),
        Block("list_item", "2. two"),
        Block("paragraph", "Last."),
    ]


def test_text_faq_question_lines_are_headings_over_their_answers() -> None:
    data = (
        b"PRODUCT FAQ\n\nQ: Is there a free trial?\nA: Yes, 14 days.\n\n"
        b"Q: Can I export my data?\nA: Yes, as JSON.\nExports over 10 GB come as a link.\n"
    )
    doc = parse_bytes(data, "faq.txt")
    assert doc.blocks == [
        Block("paragraph", "PRODUCT FAQ"),
        Block("heading", "Q: Is there a free trial?", level=2),
        Block("paragraph", "A: Yes, 14 days."),
        Block("heading", "Q: Can I export my data?", level=2),
        Block("paragraph", "A: Yes, as JSON.\nExports over 10 GB come as a link."),
    ]
    # Each answer is a chunk of its own, under its question.
    drafts = chunk_blocks(doc.blocks, target_chars=1000, overlap_chars=150)
    assert [(d.heading_path, d.text) for d in drafts[1:]] == [
        (("Q: Is there a free trial?",), "A: Yes, 14 days."),
        (("Q: Can I export my data?",), "A: Yes, as JSON.\nExports over 10 GB come as a link."),
    ]


def test_text_with_one_question_line_is_not_an_faq() -> None:
    data = b"Meeting notes\n\nQ: who owns the budget?\nA: Finance.\n\nNext steps follow."
    doc = parse_bytes(data, "notes.txt")
    assert all(b.kind == "paragraph" for b in doc.blocks)


def test_text_cp1252_is_decoded() -> None:
    doc = parse_bytes("Price: 5€ — café.".encode("cp1252"), "legacy.txt")
    assert doc.text == "Price: 5€ — café."


# --- CSV -------------------------------------------------------------------------------


def test_csv_groups_repeat_the_header() -> None:
    rows = ["id,name,notes"] + [f'{i},Person {i},"likes a, b and c"' for i in range(60)]
    doc = parse_bytes("\n".join(rows).encode(), "people.csv")
    assert doc.parser == "csv"
    assert len(doc.blocks) > 2
    assert all(b.kind == "table" for b in doc.blocks)
    assert all(b.text.split("\n")[0] == "| id | name | notes |" for b in doc.blocks)
    data_rows = [ln for b in doc.blocks for ln in b.text.split("\n")[1:]]
    assert data_rows == [f"| {i} | Person {i} | likes a, b and c |" for i in range(60)]
    assert doc.metadata == {"columns": "id, name, notes", "rows": "60"}


def test_csv_semicolon_dialect() -> None:
    doc = parse_bytes(b"a;b\n1;2\n3;4\n", "x.csv")
    assert doc.blocks == [Block("table", "| a | b |\n| 1 | 2 |\n| 3 | 4 |")]


def test_csv_header_only_is_no_text() -> None:
    assert parse_error(b"id,name,email\n", "empty.csv").reason == "no_text"


# --- JSON ------------------------------------------------------------------------------


def test_json_leaf_paths_grouped_by_top_level_key() -> None:
    data = json.dumps(
        {"title": "Config", "server": {"host": "a.b", "ports": [80, 443]}, "debug": False}
    ).encode()
    doc = parse_bytes(data, "config.json")
    assert (doc.parser, doc.title) == ("json", "Config")  # not the first key
    assert doc.blocks == [
        Block("list_item", "title: Config"),
        Block("list_item", "debug: false"),
        Block("heading", "server", level=1),
        # A small object of plain values (a list of them too) is one line: one fact.
        Block("list_item", "server: host: a.b; ports: 80, 443"),
    ]
    many = {"server": {f"k{i}": i for i in range(13)}, "list": [{"deep": [1]}, 2]}
    doc = parse_bytes(json.dumps(many).encode(), "big.json")
    # Past a dozen fields, or with objects inside a list, a leaf per line reads better.
    assert [b.text for b in doc.blocks if b.kind == "list_item"] == [
        *(f"server.k{i}: {i}" for i in range(13)),
        "list[0].deep[0]: 1",
        "list[1]: 2",
    ]


def test_json_records_of_one_shape_are_a_table() -> None:
    data = json.dumps(
        {
            "plans": {
                "starter": {"uptime": 99.5, "support": {"p1": None}},
                "team": {"uptime": 99.9, "support": {"p1": "4 hours"}},
            },
            "credits": [{"below": 99.0, "credit": 25}, {"below": 95.0, "credit": 50}],
            "mixed": [{"a": 1}, {"b": 2}],
            "window": {"day": "Sunday", "notice_hours": 72},
        }
    ).encode()
    doc = parse_bytes(data, "sla.json")
    tables = [b.text for b in doc.blocks if b.kind == "table"]
    assert tables == [
        "| plans | uptime | support.p1 |\n| starter | 99.5 | null |\n| team | 99.9 | 4 hours |",
        "| credits | below | credit |\n| 0 | 99.0 | 25 |\n| 1 | 95.0 | 50 |",
    ]
    # Records of different shapes stay one line per leaf; an object of plain values is
    # one record on one line.
    leaves = [b.text for b in doc.blocks if b.kind == "list_item"]
    assert leaves == ["mixed[0].a: 1", "mixed[1].b: 2", "window: day: Sunday; notice_hours: 72"]


def test_json_invalid_is_corrupted() -> None:
    assert parse_error(b'{"a": 1,', "bad.json").reason == "corrupted"


def test_json_pathological_nesting_does_not_escape() -> None:
    err = parse_error(b"[" * 200_000 + b"]" * 200_000, "deep.json")
    assert err.reason == "corrupted"
    nested: object = "bottom"
    for _ in range(100):
        nested = {"k": nested}
    doc = parse_bytes(json.dumps(nested).encode(), "deep-ok.json")
    leaf = doc.blocks[-1].text
    assert leaf.startswith("k." + ".".join(["k"] * 31) + ": {")  # capped, kept as JSON


def test_json_title_is_not_taken_from_keys() -> None:
    assert parse_bytes(b'{"server": {"host": "x"}}', "x.json").title is None


def test_json_empty_containers_have_no_text() -> None:
    assert parse_error(b"{}", "empty.json").reason == "no_text"


# --- registry --------------------------------------------------------------------------


def test_library_exceptions_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding:
        name = "text"
        version = "9"

        def parse(self, data: bytes, filename: str) -> ParsedDocument:
            raise KeyError("boom")

    monkeypatch.setitem(REGISTRY, "text", Exploding())
    err = parse_error(b"hello", "a.txt")
    assert err.reason == "corrupted"
    assert "boom" in err.detail
