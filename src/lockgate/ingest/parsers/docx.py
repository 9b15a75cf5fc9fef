"""Word documents via python-docx: body paragraphs and tables in document order."""

from __future__ import annotations

import io
import re
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from lockgate.ingest.parsers._common import finish, render_table
from lockgate.ingest.types import Block, ParsedDocument, ParseError, ParseOptions

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def _paragraph_block(par: Paragraph) -> Block | None:
    text = par.text.strip()
    if not text:
        return None
    style = (par.style.name if par.style is not None else "") or ""
    if style.lower() == "title":
        return Block("heading", text, level=1)
    if m := _HEADING_STYLE.match(style):
        return Block("heading", text, level=max(1, int(m.group(1))))
    ppr = par._p.pPr
    # python-docx types child elements as their descriptors (ZeroOrOne), not the element.
    num_pr: Any = ppr.numPr if ppr is not None else None
    if num_pr is not None or style.lower().startswith("list"):
        depth = 0
        ilvl = num_pr.ilvl if num_pr is not None else None
        if ilvl is not None and ilvl.val is not None:
            depth = int(ilvl.val)
        return Block("list_item", f"{'  ' * depth}- {text}")
    return Block("paragraph", text)


def _table_block(table: Table) -> Block | None:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            # python-docx repeats a merged cell once per grid column it spans.
            if not cells or cell.text != cells[-1]:
                cells.append(cell.text)
        rows.append(cells)
    text = render_table(rows)
    return Block("table", text) if text else None


class DocxParser:
    name = "docx"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        try:
            document = docx.Document(io.BytesIO(data))
            items = list(document.iter_inner_content())
            core_title = (document.core_properties.title or "").strip()
        except Exception as exc:  # bad zip, missing parts, malformed XML...
            raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
        blocks: list[Block] = []
        title: str | None = core_title or None
        for item in items:
            block = _paragraph_block(item) if isinstance(item, Paragraph) else _table_block(item)
            if block is None:
                continue
            if title is None and block.kind == "heading":
                title = block.text
            blocks.append(block)
        return finish(blocks, self.name, self.version, title=title)
