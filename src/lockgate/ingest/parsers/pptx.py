"""Slide decks via python-pptx: one heading per slide (its title), the text of its shapes
and tables in order, then the speaker notes. The slide number is the block's `page`, so
citations say which slide and the `slide` chunking strategy never mixes two slides."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from lockgate.ingest.parsers._common import finish, render_table, squash
from lockgate.ingest.types import Block, BlockKind, ParsedDocument, ParseOptions


def _shapes(shapes: Any) -> Iterator[Any]:
    """Shapes in reading order (top to bottom, left to right), groups flattened."""
    ordered = sorted(shapes, key=lambda s: ((s.top or 0), (s.left or 0)))
    for shape in ordered:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _slide_blocks(slide: Any, number: int) -> list[Block]:
    title_shape = slide.shapes.title
    title = squash(title_shape.text_frame.text) if title_shape is not None else ""
    heading = f"Slide {number}: {title}" if title else f"Slide {number}"
    blocks = [Block("heading", heading, level=1, page=number)]
    for shape in _shapes(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if shape.has_text_frame:
            for par in shape.text_frame.paragraphs:
                text = squash("".join(run.text for run in par.runs) or par.text)
                if text:
                    kind: BlockKind = "list_item" if par.level > 0 else "paragraph"
                    prefix = "  " * (par.level - 1) + "- " if par.level > 0 else ""
                    blocks.append(Block(kind, prefix + text, page=number))
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            table = render_table(rows)
            if table:
                blocks.append(Block("table", table, page=number))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        text = squash(notes.text) if notes is not None else ""
        if text:
            blocks.append(Block("paragraph", f"Speaker notes: {text}", page=number))
    return blocks


class PptxParser:
    name = "pptx"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        deck = Presentation(io.BytesIO(data))
        blocks = [b for n, slide in enumerate(deck.slides, 1) for b in _slide_blocks(slide, n)]
        props = deck.core_properties
        meta = {k: str(v) for k, v in (("author", props.author), ("modified", props.modified))
                if v}
        return finish(
            blocks,
            self.name,
            self.version,
            title=(props.title or "").strip() or None,
            pages=len(deck.slides),
            metadata=meta,
            title_from_heading=False,
        )
