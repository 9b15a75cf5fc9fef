"""JSON on the request path: orjson where its answer is the standard library's, the standard
library where it might not be.

orjson parses and writes several times faster, but it differs from `json` at the edges:
it reads an integer past 64 bits as a float, rejects NaN/Infinity literals and lone UTF-16
surrogates that `json` accepts, nests 1,024 deep where `json` raises RecursionError sooner,
and cannot write integers past 64 bits, non-string keys or lone surrogates. `loads` sends
every document that could touch one of those to `json` (a long digit run, many brackets, or
an orjson error, whose message is not `json`'s either), so its result and its exceptions are
`json.loads`'. `dumps` returns None for what orjson cannot write, and each caller falls back
to the encoder it had before, with that encoder's own escaping and errors.

One difference is kept on purpose: orjson writes NaN and ±Infinity as `null`, where `json`
writes the invalid tokens `NaN`/`Infinity` (or raises with `allow_nan=False`)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# 19 digits in a row may be an integer past 64 bits (below -2**63 or above 2**64 - 1),
# which orjson would read as a float.
_LONG_DIGITS_B = re.compile(rb"\d{19}")
_LONG_DIGITS_S = re.compile(r"\d{19}")
# Fewer brackets than this cannot nest deep enough for `json` to run out of stack.
_MAX_BRACKETS = 256


def _plain(data: bytes | bytearray | str) -> bool:
    if isinstance(data, str):
        if _LONG_DIGITS_S.search(data):
            return False
        return data.count("[") + data.count("{") < _MAX_BRACKETS
    if _LONG_DIGITS_B.search(data):
        return False
    return data.count(b"[") + data.count(b"{") < _MAX_BRACKETS


def fast_loads(data: bytes | bytearray | str) -> tuple[bool, Any]:
    """(True, value) when orjson parsed `data` with the result `json.loads` gives; (False,
    None) when `json` must decide (it may accept, or fail with its own message). A value from
    here is valid UTF-8 throughout: orjson refuses lone surrogates."""
    if not _plain(data):
        return False, None
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError:
        return False, None


def loads(data: bytes | bytearray | str) -> Any:
    """`json.loads(data)`, the same value and the same exceptions, mostly through orjson."""
    ok, value = fast_loads(data)
    return value if ok else json.loads(data)


def dumps(obj: Any) -> bytes | None:
    """Compact UTF-8 JSON (`separators=(",", ":")`, not ASCII-escaped), or None when orjson
    cannot write `obj` exactly (see the module text): the caller then uses its old encoder."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
