"""OpenDocument text (.odt): content.xml read with lxml (no entity expansion): headings
with their outline level, paragraphs, list items and tables in document order."""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from lockgate.ingest.parsers._common import finish, render_table, squash
from lockgate.ingest.parsers.sheets import safe_xml
from lockgate.ingest.types import Block, ParsedDocument, ParseOptions

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_DC = "{http://purl.org/dc/elements/1.1/}"


def odf_text(el: etree._Element) -> str:
    """Text of an ODF paragraph: <text:s/>, tabs and line breaks are spaces in disguise."""
    parts: list[str] = [el.text or ""]
    for child in el:
        if child.tag == _TEXT + "s":
            parts.append(" " * int(child.get(_TEXT + "c", "1") or 1))
        elif child.tag in (_TEXT + "tab", _TEXT + "line-break"):
            parts.append(" ")
        elif child.tag != _TEXT + "note":  # footnote bodies would interrupt the sentence
            parts.append(odf_text(child))
        parts.append(child.tail or "")
    return squash("".join(parts))


def _walk(el: etree._Element, blocks: list[Block], depth: int = 0) -> None:
    for child in el:
        tag = child.tag
        if tag == _TEXT + "h":
            text = odf_text(child)
            if text:
                level = int(child.get(_TEXT + "outline-level", "1") or 1)
                blocks.append(Block("heading", text, level=max(1, level)))
        elif tag == _TEXT + "p":
            text = odf_text(child)
            if text:
                blocks.append(Block("paragraph", text))
        elif tag == _TEXT + "list":
            for item in child.iter(_TEXT + "list-item"):
                for par in item.findall(_TEXT + "p"):
                    text = odf_text(par)
                    if text:
                        blocks.append(Block("list_item", f"{'  ' * depth}- {text}"))
        elif tag == _TABLE + "table":
            rows = [
                [" ".join(odf_text(p) for p in cell.iter(_TEXT + "p"))
                 for cell in row.iter(_TABLE + "table-cell")]
                for row in child.iter(_TABLE + "table-row")
            ]
            table = render_table(rows)
            if table:
                blocks.append(Block("table", table))
        elif tag in (_TEXT + "section", _OFFICE + "text", _TEXT + "soft-page-break"):
            _walk(child, blocks, depth)


class OdtParser:
    name = "odt"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            root = safe_xml(zf.read("content.xml"))
            meta_raw = zf.read("meta.xml") if "meta.xml" in zf.namelist() else None
        body = root.find(f"{_OFFICE}body/{_OFFICE}text")
        blocks: list[Block] = []
        if body is not None:
            _walk(body, blocks)
        title = None
        if meta_raw:
            found = safe_xml(meta_raw).find(f".//{_DC}title")
            title = squash(found.text or "") if found is not None else None
        return finish(blocks, self.name, self.version, title=title or None)
