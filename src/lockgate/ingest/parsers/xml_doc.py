"""Generic XML: each child of the root is a section (heading: its tag and any id/name/title
attribute), its leaf elements become `tag: text` lines, long text runs become paragraphs.
Parsed without entity expansion, DTD loading or network access (no XXE, no billion laughs).
"""

from __future__ import annotations

from lxml import etree

from lockgate.ingest.parsers._common import finish, squash
from lockgate.ingest.parsers.sheets import safe_xml
from lockgate.ingest.types import Block, ParsedDocument, ParseError, ParseOptions

_LABEL_ATTRS = ("title", "name", "id", "key")
_LONG = 120  # text longer than this reads as prose, not a field value


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _label(el: etree._Element) -> str:
    attr = next((el.get(a) for a in _LABEL_ATTRS if el.get(a)), None)
    return f"{_local(el.tag)} {attr}" if attr else _local(el.tag)


def _fields(el: etree._Element, out: list[Block]) -> None:
    lines: list[str] = []
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue  # comments, processing instructions
        own = squash(node.text or "")
        if not own:
            continue
        if len(own) > _LONG:
            if lines:
                out.append(Block("paragraph", "\n".join(lines)))
                lines = []
            out.append(Block("paragraph", own))
        elif len(node) == 0 or node is not el:
            lines.append(f"{_local(node.tag)}: {own}")
    if lines:
        out.append(Block("paragraph", "\n".join(lines)))


class XmlParser:
    name = "xml"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        try:
            root = safe_xml(data)
        except etree.XMLSyntaxError as exc:
            raise ParseError("corrupted", f"XML: {str(exc)[:180]}") from exc
        blocks: list[Block] = []
        children = [c for c in root if isinstance(c.tag, str)]
        if not children:
            _fields(root, blocks)
        for child in children:
            blocks.append(Block("heading", _label(child), level=2))
            _fields(child, blocks)
        return finish(blocks, self.name, self.version, title=_label(root),
                      title_from_heading=False)
