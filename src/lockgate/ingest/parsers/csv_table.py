"""CSV/TSV: header row plus groups of rows, each group a table block repeating the header."""

from __future__ import annotations

import csv
import io
import sys

from lockgate.ingest.parsers._common import finish, render_table
from lockgate.ingest.text_decode import decode_bytes
from lockgate.ingest.types import Block, ParsedDocument, ParseError, ParseOptions

# Groups stay under this so each fits a default-sized chunk on its own.
GROUP_CHARS = 800
GROUP_ROWS = 25

# Large quoted fields are legal; the stdlib default (128 KiB) would reject them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _dialect(sample: str, filename: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel_tab if filename.lower().endswith(".tsv") else csv.excel


class CsvParser:
    name = "csv"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        text = decode_bytes(data)
        try:
            reader = csv.reader(io.StringIO(text), _dialect(text[:16384], filename))
            rows = [r for r in reader if any(c.strip() for c in r)]
        except csv.Error as exc:
            raise ParseError("corrupted", str(exc)[:200]) from exc
        if len(rows) < 2:
            raise ParseError("no_text", "no data rows")
        header, body = rows[0], rows[1:]
        header_line = render_table([header])
        blocks: list[Block] = []
        group: list[list[str]] = []
        size = len(header_line)
        for row in body:
            row_len = len(render_table([row])) + 1
            if group and (size + row_len > GROUP_CHARS or len(group) >= GROUP_ROWS):
                blocks.append(Block("table", render_table([header, *group])))
                group, size = [], len(header_line)
            group.append(row)
            size += row_len
        if group:
            blocks.append(Block("table", render_table([header, *group])))
        meta = {"columns": ", ".join(h.strip() for h in header), "rows": str(len(body))}
        return finish(blocks, self.name, self.version, metadata=meta)
