"""Spreadsheets: .xlsx (openpyxl), .xls (xlrd), .ods (content.xml via lxml).

One chunk group per sheet: each sheet is a level-1 heading (so the chunker starts a new chunk)
followed by one table block, and the sheet's 1-based index is its `page` (the `sheet`
chunking strategy splits on pages). Tables render header-first, and the chunker repeats a
table's first line in every piece, so each chunk carries its column names.

Merged cells: a merged range's value is copied into every cell it covers. Header rows that
are stacked by merged cells (a group title merged over several columns above the column
titles) are folded into one header line, "Q1 Units | Q1 Revenue", so the repeated header
still says which group a column belongs to.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from lockgate.ingest.parsers._common import finish, render_table, squash
from lockgate.ingest.types import Block, ParsedDocument, ParseError, ParseOptions

# A sheet larger than this is cut (and says so): a multi-million-cell export is a data set,
# not a document, and would stall the embedder.
_MAX_CELLS = 200_000


@dataclass
class Sheet:
    name: str
    rows: list[list[str]]
    # (first row, first col, last row, last col), 0-based inclusive
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    truncated: bool = False


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.10g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return squash(str(value))


def _fill_merged(sheet: Sheet) -> None:
    # Merged ranges are filled within the sheet's cell budget: a range is one attribute in
    # the file but becomes rows x columns cells here.
    budget = _MAX_CELLS
    for r0, c0, r1, c1 in sheet.merged:
        if r0 >= len(sheet.rows):
            continue
        area = (min(r1, len(sheet.rows) - 1) - r0 + 1) * (c1 - c0 + 1)
        if area > budget:
            sheet.truncated = True
            break
        budget -= area
        top = sheet.rows[r0]
        value = top[c0] if c0 < len(top) else ""
        for r in range(r0, min(r1, len(sheet.rows) - 1) + 1):
            row = sheet.rows[r]
            row.extend([""] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                row[c] = value


def _trim(rows: list[list[str]]) -> list[list[str]]:
    rows = [r for r in rows if any(c.strip() for c in r)]
    width = max((max((i + 1 for i, c in enumerate(r) if c.strip()), default=0) for r in rows),
                default=0)
    return [(r + [""] * width)[:width] for r in rows]


def _header_depth(sheet: Sheet, first: int) -> int:
    """How many rows, from the first non-empty one, form the header: 1, or more when a
    horizontally merged cell sits in the first row above narrower column titles."""
    depth = 1
    for r0, c0, r1, c1 in sheet.merged:
        if r0 == first and c1 > c0:
            depth = max(depth, r1 - first + 2)
        elif r0 == first and r1 > r0:  # a title merged down across the header rows
            depth = max(depth, r1 - first + 1)
    return min(depth, 4)


def _fold_header(rows: list[list[str]]) -> list[str]:
    out = []
    for col in zip(*rows, strict=True):
        parts: list[str] = []
        for part in col:
            if part and (not parts or parts[-1] != part):
                parts.append(part)
        out.append(" ".join(parts))
    return out


def sheet_blocks(sheet: Sheet, index: int) -> list[Block]:
    _fill_merged(sheet)
    raw = sheet.rows
    first = next((i for i, r in enumerate(raw) if any(c.strip() for c in r)), None)
    if first is None:
        return []
    depth = _header_depth(sheet, first)
    rows = _trim(raw)
    if not rows:
        return []
    if depth > 1 and len(rows) > depth:
        rows = [_fold_header(rows[:depth]), *rows[depth:]]
    blocks = [Block("heading", f"Sheet: {sheet.name}", level=1, page=index)]
    table = render_table(rows)
    if sheet.truncated:
        table += f"\n| (sheet cut at {_MAX_CELLS} cells) |"
    blocks.append(Block("table", table, page=index))
    return blocks


def _cap(rows: Iterable[list[str]], width: int) -> tuple[list[list[str]], bool]:
    out: list[list[str]] = []
    limit = max(1, _MAX_CELLS // max(1, width))
    for row in rows:
        if len(out) >= limit:
            return out, True
        out.append(row)
    return out, False


def _document(sheets: list[Sheet], parser: str, version: str, title: str | None,
              meta: dict[str, str]) -> ParsedDocument:
    blocks = [b for i, sh in enumerate(sheets, 1) for b in sheet_blocks(sh, i)]
    if not blocks:
        raise ParseError("no_text", "every sheet is empty")
    meta = {**meta, "sheets": ",".join(s.name for s in sheets)}
    return finish(blocks, parser, version, title=title, pages=len(sheets), metadata=meta,
                  title_from_heading=False)


_MERGE_REF = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+):\$?([A-Z]{1,3})\$?(\d+)$")
_SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _check_xlsx_merges(data: bytes) -> None:
    """Refuse merged ranges covering more cells than a sheet may have, before openpyxl
    (which creates an object for every covered cell) loads the workbook."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # openpyxl reports the damage
    with zf:
        for name in zf.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            covered = 0
            with zf.open(name) as fh:
                for _, el in etree.iterparse(
                    fh, tag=_SHEET_NS + "mergeCell", resolve_entities=False, no_network=True
                ):
                    m = _MERGE_REF.match(el.get("ref", "").upper())
                    el.clear()
                    if not m:
                        continue
                    cols = abs(_col(m.group(3)) - _col(m.group(1))) + 1
                    rows = abs(int(m.group(4)) - int(m.group(2))) + 1
                    covered += cols * rows
                    if covered > _MAX_CELLS:
                        raise ParseError(
                            "too_large", f"{name}: merged cells cover over {_MAX_CELLS} cells"
                        )


class XlsxParser:
    name = "xlsx"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        import openpyxl

        _check_xlsx_merges(data)
        # Not read_only: merged ranges are only available on normal worksheets.
        # data_only: formulas give their cached values, not their source.
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
        sheets = []
        for ws in book.worksheets:
            width = ws.max_column or 1
            rows, cut = _cap(
                ([cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)), width
            )
            merged = [
                (m.min_row - 1, m.min_col - 1, m.max_row - 1, m.max_col - 1)
                for m in ws.merged_cells.ranges
            ]
            sheets.append(Sheet(ws.title, rows, merged, cut))
        props = book.properties
        meta = {k: str(v) for k, v in (("author", props.creator), ("modified", props.modified))
                if v}
        return _document(sheets, self.name, self.version, (props.title or "").strip() or None,
                         meta)


class XlsParser:
    name = "xls"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        import xlrd

        book = xlrd.open_workbook(file_contents=data, formatting_info=False, on_demand=True)
        sheets = []
        for sh in book.sheets():

            def value(cell: xlrd.sheet.Cell) -> str:
                if cell.ctype == xlrd.XL_CELL_DATE:
                    return cell_text(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
                return cell_text(cell.value)

            rows, cut = _cap(
                ([value(c) for c in sh.row(r)] for r in range(sh.nrows)), max(1, sh.ncols)
            )
            # xlrd only reports merged ranges with formatting_info, which .xls from some
            # writers lack; the values still come through in the top-left cells.
            sheets.append(Sheet(sh.name, rows, [], cut))
        return _document(sheets, self.name, self.version, None, {})


_T = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_O = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_P = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}p"
# Spreadsheets pad rows and columns to 1M/16k with one "repeated" element: expand repeats
# only up to a bound, empty trailing ones are trimmed anyway.
_MAX_REPEAT = 1000


def safe_xml(raw: bytes) -> etree._Element:
    """Parse XML from a document container without entity expansion or network access."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    return etree.fromstring(raw, parser=parser)


def _ods_cell_text(cell: etree._Element) -> str:
    value = cell.get(_O + "value") or cell.get(_O + "date-value")
    paras = ["".join(p.itertext()) for p in cell.iter(_P)]
    text = " ".join(p for p in paras if p.strip())
    return squash(text or value or "")


def _ods_sheet(table: etree._Element) -> Sheet:
    rows: list[list[str]] = []
    merged: list[tuple[int, int, int, int]] = []
    cells_seen = 0
    truncated = False
    for row_el in table.iter(_T + "table-row"):
        rrep = min(int(row_el.get(_T + "number-rows-repeated", "1")), _MAX_REPEAT)
        row: list[str] = []
        for cell in row_el:
            if cell.tag not in (_T + "table-cell", _T + "covered-table-cell"):
                continue
            crep = min(int(cell.get(_T + "number-columns-repeated", "1")), _MAX_REPEAT)
            text = _ods_cell_text(cell) if cell.tag == _T + "table-cell" else ""
            span_c = min(int(cell.get(_T + "number-columns-spanned", "1")), _MAX_REPEAT)
            span_r = min(int(cell.get(_T + "number-rows-spanned", "1")), _MAX_REPEAT)
            if span_c > 1 or span_r > 1:
                merged.append((len(rows), len(row), len(rows) + span_r - 1,
                               len(row) + span_c - 1))
            row.extend([text] * crep)
            if len(row) > _MAX_CELLS:  # one row of repeated cells past the whole budget
                truncated = True
                break
        if not any(row):
            rrep = min(rrep, 1)  # padding rows
        # The budget is checked per repeated row: repeats multiply, a file of a few KB
        # can otherwise describe 10^9 cells.
        for _ in range(rrep):
            if cells_seen + len(row) > _MAX_CELLS:
                truncated = True
                break
            rows.append(list(row))
            cells_seen += len(row)
        if truncated:
            break
    return Sheet(table.get(_T + "name", "Sheet"), rows, merged, truncated)


class OdsParser:
    name = "ods"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            root = safe_xml(zf.read("content.xml"))
        tables = root.iter(_T + "table")
        sheets = [_ods_sheet(t) for t in tables]
        return _document(sheets, self.name, self.version, None, {})
