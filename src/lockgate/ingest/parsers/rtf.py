"""Rich Text Format via striprtf: control words dropped, one paragraph per RTF paragraph."""

from __future__ import annotations

import re

from striprtf.striprtf import rtf_to_text

from lockgate.ingest.parsers._common import finish
from lockgate.ingest.parsers.text import text_to_blocks
from lockgate.ingest.text_decode import decode_bytes
from lockgate.ingest.types import ParsedDocument, ParseError, ParseOptions


class RtfParser:
    name = "rtf"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        source = decode_bytes(data)
        if source.count("}") < source.count("{") - 2:
            raise ParseError("corrupted", "unbalanced RTF groups (truncated?)")
        text = rtf_to_text(source, errors="replace").replace("\r\n", "\n")
        # striprtf ends each \par with one newline: make every paragraph its own block.
        return finish(text_to_blocks(re.sub(r"\n+", "\n\n", text)), self.name, self.version)
