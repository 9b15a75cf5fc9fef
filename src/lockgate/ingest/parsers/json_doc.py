"""JSON: one line per leaf, `path.to[0].leaf: value`, grouped under top-level keys."""

from __future__ import annotations

import json
from typing import Any

from lockgate.ingest.parsers._common import finish, squash
from lockgate.ingest.text_decode import decode_bytes
from lockgate.ingest.types import Block, ParsedDocument, ParseError, ParseOptions

MAX_DEPTH = 32
_MAX_VALUE_CHARS = 2000


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return squash(value)
    return json.dumps(value, ensure_ascii=False)[:_MAX_VALUE_CHARS]


def _leaves(value: Any, path: str, depth: int, out: list[Block]) -> None:
    if depth >= MAX_DEPTH and isinstance(value, (dict, list)):
        # Past the cap the subtree is kept as compact JSON rather than walked further.
        out.append(Block("list_item", f"{path}: {_scalar(value)}"))
    elif isinstance(value, dict) and value:
        for key, sub in value.items():
            _leaves(sub, f"{path}.{key}" if path else str(key), depth + 1, out)
    elif isinstance(value, list) and value:
        for i, sub in enumerate(value):
            _leaves(sub, f"{path}[{i}]", depth + 1, out)
    else:
        out.append(Block("list_item", f"{path}: {_scalar(value)}" if path else _scalar(value)))


class JsonParser:
    name = "json"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        try:
            doc = json.loads(decode_bytes(data))
        except RecursionError as exc:
            raise ParseError("corrupted", "JSON nested too deeply") from exc
        except ValueError as exc:
            raise ParseError("corrupted", f"invalid JSON: {exc}"[:200]) from exc
        blocks: list[Block] = []
        if isinstance(doc, dict):
            # Top-level scalars come first, together, so they share a chunk instead of each
            # becoming a one-line section; each nested value gets its key as a heading.
            nested = {k for k, v in doc.items() if isinstance(v, (dict, list)) and v}
            for key, value in doc.items():
                if key not in nested:
                    _leaves(value, str(key), 1, blocks)
            for key, value in doc.items():
                if key in nested:
                    blocks.append(Block("heading", str(key), level=1))
                    _leaves(value, str(key), 1, blocks)
        else:
            _leaves(doc, "", 0, blocks)
        title = doc.get("title") if isinstance(doc, dict) else None
        title = squash(title) if isinstance(title, str) else None
        if not any(b.kind != "heading" and b.text.strip() for b in blocks):
            raise ParseError("no_text")
        # Headings here are JSON keys, not a document title.
        return finish(blocks, self.name, self.version, title=title, title_from_heading=False)
