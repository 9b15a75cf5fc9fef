"""JSON: one line per leaf, `path.to[0].leaf: value`, grouped under top-level keys. Records
of one shape (a list of objects with the same keys, or an object whose members are objects
with the same keys: plans, regions, tiers) are a table instead, a row per record, so what
one record says stays together ("below 99.0 % uptime" and "25 % credit" are one row). A
single small object of plain values is one line for the same reason: the maintenance
window's day, hours and notice are one fact, not four."""

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


_MAX_COLUMNS = 12  # more columns than this: one line per leaf reads better
_RECORD_DEPTH = 3  # objects nested deeper than this in a record: not a table's record


def _flat(
    value: Any, prefix: str = "", depth: int = 0, lists: bool = False
) -> dict[str, Any] | None:
    """An object's leaves by their dotted key below it; None where a list is inside (with
    `lists`, a list of plain values is one leaf, its values joined)."""
    if depth > _RECORD_DEPTH:
        return None
    out: dict[str, Any] = {}
    for key, sub in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(sub, dict):
            inner = _flat(sub, name, depth + 1, lists) if sub else {name: sub}
            if inner is None:
                return None
            out.update(inner)
        elif isinstance(sub, list):
            if not lists or not sub or any(isinstance(v, (dict, list)) for v in sub):
                return None
            out[name] = ", ".join(_scalar(v) for v in sub)
        else:
            out[name] = sub
    return out


def _records(value: Any) -> tuple[list[str], list[tuple[str, dict[str, Any]]]] | None:
    """(columns, [(row name, leaves)]) where `value` holds two or more records of one shape."""
    if isinstance(value, list):
        named = [(str(i), v) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        named = [(str(k), v) for k, v in value.items()]
    else:
        return None
    if len(named) < 2 or not all(isinstance(v, dict) and v for _, v in named):
        return None
    rows: list[tuple[str, dict[str, Any]]] = []
    for name, v in named:
        leaves = _flat(v)
        if leaves is None:
            return None
        rows.append((name, leaves))
    columns = list(rows[0][1])
    if len(columns) > _MAX_COLUMNS or any(list(leaves) != columns for _, leaves in rows):
        return None
    return columns, rows


def _table(path: str, columns: list[str], rows: list[tuple[str, dict[str, Any]]]) -> Block:
    def cell(v: Any) -> str:
        return _scalar(v).replace("|", "/")

    head = [path.rsplit(".", 1)[-1] or "item", *columns]
    lines = ["| " + " | ".join(head) + " |"]
    lines += ["| " + " | ".join([name, *(cell(r[c]) for c in columns)]) + " |" for name, r in rows]
    return Block("table", "\n".join(lines))


_MAX_RECORD_CHARS = 300  # a longer object reads better a leaf per line


def _record(path: str, value: Any) -> Block | None:
    """A nested object of two or more plain values on one line, `path: key: value, ...`."""
    if not path or not isinstance(value, dict):
        return None
    leaves = _flat(value, lists=True)
    if leaves is None or not 2 <= len(leaves) <= _MAX_COLUMNS:
        return None
    # Semicolons between fields: a joined list's values are separated by commas.
    line = f"{path}: " + "; ".join(f"{k}: {_scalar(v)}" for k, v in leaves.items())
    return Block("list_item", line) if len(line) <= _MAX_RECORD_CHARS else None


def _leaves(value: Any, path: str, depth: int, out: list[Block]) -> None:
    records = _records(value) if depth < MAX_DEPTH else None
    record = _record(path, value) if depth < MAX_DEPTH and records is None else None
    if records is not None:
        out.append(_table(path, *records))
    elif record is not None:
        out.append(record)
    elif depth >= MAX_DEPTH and isinstance(value, (dict, list)):
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
    version = "3"

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
