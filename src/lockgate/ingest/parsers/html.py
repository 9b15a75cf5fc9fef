"""HTML via BeautifulSoup + lxml, walking the tree in reading order."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from lockgate.ingest.parsers._common import finish, render_table, squash
from lockgate.ingest.types import Block, ParsedDocument, ParseOptions

# Page chrome and non-content; nav/header/footer repeat on every page of a site and would
# pollute retrieval with boilerplate.
_DROP = ("script", "style", "nav", "header", "footer", "noscript", "template", "svg", "iframe")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCK = {
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "form",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "ul",
    "tr",
    "td",
    "th",
}
_SKIP_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
_SPACE_BEFORE = re.compile(r"\s+([.,;:!?)\]])")
_SPACE_AFTER = re.compile(r"([(\[])\s+")


def _text(el: Tag) -> str:
    """Element text with a space between child nodes, minus the spaces that puts before
    punctuation (`<b>AES</b>.` must read "AES.", not "AES .")."""
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", squash(el.get_text(" "))))


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.inline: list[str] = []

    def flush(self) -> None:
        # Inline strings carry their own whitespace, as a browser would render them.
        text = squash("".join(self.inline))
        self.inline.clear()
        if text:
            self.blocks.append(Block("paragraph", text))

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS):
                    self.inline.append(str(child))
            elif isinstance(child, Tag):
                self.element(child)

    def element(self, el: Tag) -> None:
        name = el.name.lower()
        if name not in _BLOCK and name not in _HEADINGS and name != "head":
            self.walk(el)  # inline element: its text joins the running paragraph
            return
        self.flush()
        if name == "head":
            return
        if name in _HEADINGS:
            self.blocks.append(Block("heading", _text(el), level=_HEADINGS[name]))
        elif name == "table":
            self.blocks.append(Block("table", _table(el)))
        elif name == "pre":
            self.blocks.append(Block("code", el.get_text().strip("\n")))
        elif name in ("ul", "ol"):
            self.list(el, depth=0)
        elif name == "li":
            self.list_item(el, "-", 0)
        else:
            self.walk(el)
            self.flush()

    def list(self, el: Tag, depth: int) -> None:
        ordered = el.name == "ol"
        for n, li in enumerate(el.find_all("li", recursive=False), start=1):
            self.list_item(li, f"{n}." if ordered else "-", depth)

    def list_item(self, li: Tag, marker: str, depth: int) -> None:
        nested = [c for c in li.children if isinstance(c, Tag) and c.name in ("ul", "ol")]
        for sub in nested:
            sub.extract()
        text = _text(li)
        if text:
            self.blocks.append(Block("list_item", f"{'  ' * depth}{marker} {text}"))
        for sub in nested:
            self.list(sub, depth + 1)


def _table(table: Tag) -> str:
    rows = []
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue  # nested tables are flattened into their outer cell's text
        cells = tr.find_all(["th", "td"], recursive=False)
        is_header = bool(cells) and all(c.name == "th" for c in cells)
        in_thead = tr.find_parent("thead") is not None
        rows.append((not (is_header or in_thead), [_text(c) for c in cells]))
    # Header rows first, otherwise document order (sorted is stable).
    rows.sort(key=lambda r: r[0])
    return render_table(cells for _, cells in rows)


class HtmlParser:
    name = "html"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        soup = BeautifulSoup(data, "lxml")
        title_tag = soup.find("title")
        title = squash(title_tag.get_text()) if title_tag else None
        for tag in soup.find_all(_DROP):
            tag.decompose()
        walker = _Walker()
        root = soup.body or soup
        walker.walk(root)
        walker.flush()
        return finish(walker.blocks, self.name, self.version, title=title or None)
