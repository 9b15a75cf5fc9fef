"""Markdown via a small line scanner: headings, paragraphs, lists, fenced code, pipe tables.

A hand-written scanner keeps block boundaries exact (whole code fences and tables) without
pulling in a full CommonMark renderer whose HTML we would only have to parse back.
"""

from __future__ import annotations

import re

from lockgate.ingest.parsers._common import LIST_MARKER, finish, render_table
from lockgate.ingest.text_decode import decode_bytes
from lockgate.ingest.types import Block, ParsedDocument, ParseOptions

_ATX = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HRULE = re.compile(r"^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$")
_SEP_CELL = re.compile(r":?-+:?")
_QUOTE = re.compile(r"^ {0,3}> ?")


def _front_matter(lines: list[str]) -> tuple[dict[str, str], int]:
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            meta = {}
            for ln in lines[1:end]:
                key, sep, value = ln.partition(":")
                if sep and key.strip() and not key.startswith((" ", "\t")):
                    meta[key.strip()] = value.strip().strip("\"'")
            return meta, end + 1
    return {}, 0


def _atx_text(rest: str) -> str:
    """Heading text without the optional closing `###` run (plain string ops: no backtracking)."""
    text = rest.strip()
    unclosed = text.rstrip("#")
    if not unclosed or unclosed[-1] in " \t":
        text = unclosed.strip()
    return text


def _is_table_separator(line: str) -> bool:
    cells = line.strip().strip("|").split("|")
    return "-" in line and all(_SEP_CELL.fullmatch(c.strip()) for c in cells)


def _split_row(line: str) -> list[str]:
    cells = line.strip()
    cells = cells[1:] if cells.startswith("|") else cells
    cells = cells[:-1] if cells.endswith("|") and not cells.endswith("\\|") else cells
    return [c.strip() for c in re.split(r"(?<!\\)\|", cells)]


def markdown_blocks(lines: list[str]) -> list[Block]:
    blocks: list[Block] = []
    para: list[str] = []
    item: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(Block("paragraph", "\n".join(para)))
            para.clear()
        if item:
            blocks.append(Block("list_item", "\n".join(item)))
            item.clear()

    i = 0
    while i < len(lines):
        line = _QUOTE.sub("", lines[i]).rstrip()
        i += 1
        if fence := _FENCE.match(line):
            flush()
            marker, code = fence.group(1), [line.strip()]
            while i < len(lines):
                code.append(lines[i].rstrip())
                i += 1
                if lines[i - 1].strip().startswith(marker[0] * len(marker)):
                    break
            blocks.append(Block("code", "\n".join(code)))
        elif atx := _ATX.match(line):
            flush()
            if title := _atx_text(line[atx.end() :]):
                blocks.append(Block("heading", title, level=len(atx.group(1))))
        elif para and not item and _SETEXT.match(line):
            level = 1 if line.strip().startswith("=") else 2
            blocks.append(Block("heading", " ".join(p.strip() for p in para), level=level))
            para.clear()
        elif _HRULE.match(line) or not line.strip():
            flush()
        elif "|" in line and i < len(lines) and _is_table_separator(lines[i]):
            flush()
            rows = [_split_row(line)]
            i += 1  # the separator row carries no content
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_split_row(lines[i]))
                i += 1
            blocks.append(Block("table", render_table(rows)))
        elif LIST_MARKER.match(line):
            flush()
            item.append(line)
        elif item:
            item.append(line)  # continuation (lazy or indented) of the open list item
        else:
            para.append(line)
    flush()
    return blocks


class MarkdownParser:
    name = "markdown"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        lines = decode_bytes(data).split("\n")
        meta, start = _front_matter(lines)
        blocks = markdown_blocks(lines[start:])
        return finish(blocks, self.name, self.version, title=_title(blocks, meta), metadata=meta)


def _title(blocks: list[Block], meta: dict[str, str]) -> str | None:
    first_h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return first_h1 or meta.get("title") or None
