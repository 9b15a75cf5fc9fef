"""lockgate.jsoncodec gives what the standard library gives: the same values (integers past
64 bits stay integers, NaN literals are read), the same exceptions with the same messages,
and for writing the same compact UTF-8 bytes, or None where orjson cannot write exactly."""

from __future__ import annotations

import json
import math

import pytest

from lockgate import jsoncodec

SAME = [
    b'{"model":"m","messages":[{"role":"user","content":"h\\u00e9 \xc3\xa9 \\ud83d\\ude00"}]}',
    b'{"a":1,"a":2}',
    b"[1.5e-7, -0.0, 1E5, 0.1, 123456789012345678]",
    b"-9223372036854775809",  # one below the 64-bit range: an int, not a float
    b"18446744073709551616",
    b"123456789012345678901234567890",
    b"[NaN, Infinity, -Infinity, 1e999]",
    b'"\\ud800"',
    b'{"\\udfff": 1}',
    b"[" * 300 + b"]" * 300,
    b'  {"x": [true, false, null]}  ',
    b"\xef\xbb\xbf{}",  # bytes with a BOM: json detects the encoding
    '{"text": "ünïcode as str"}',
]


@pytest.mark.parametrize("raw", SAME)
def test_loads_gives_the_standard_librarys_value(raw: bytes | str) -> None:
    got, want = jsoncodec.loads(raw), json.loads(raw)
    assert repr(got) == repr(want)  # repr: NaN != NaN, and 1 == 1.0 would hide a float


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"a": 1,}', "\ufeff{}", b'{"a": "\xff"}', b"[1] x", "nope", b"[" * 5000],
)
def test_loads_fails_as_the_standard_library_does(raw: bytes | str) -> None:
    with pytest.raises((ValueError, RecursionError)) as want:
        json.loads(raw)
    with pytest.raises(want.type) as got:
        jsoncodec.loads(raw)
    assert str(got.value) == str(want.value)


def test_fast_loads_leaves_the_edges_to_the_standard_library() -> None:
    assert jsoncodec.fast_loads(b'{"n": 5, "t": "x"}') == (True, {"n": 5, "t": "x"})
    for raw in (b"[NaN]", b'"\\ud800"', b"[1234567890123456789]", b"[" * 300 + b"]" * 300):
        assert jsoncodec.fast_loads(raw) == (False, None)


def _stdlib(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "c-1", "choices": [{"message": {"content": "é ü 😀 \u2028"}}], "n": None},
        [True, False, 0, -1, 2**63 - 1, -(2**63), 0.5, -0.0, 1e300, '\x00\x1f"'],
        {"nested": {"deep": [[[{"k": "v"}]]]}},
    ],
)
def test_dumps_writes_the_standard_librarys_bytes(obj: object) -> None:
    assert jsoncodec.dumps(obj) == _stdlib(obj)


@pytest.mark.parametrize("obj", [{"big": 2**64}, {1: "int key"}, {"s": "\ud800"}])
def test_dumps_declines_what_orjson_cannot_write_exactly(obj: object) -> None:
    assert jsoncodec.dumps(obj) is None


def test_dumps_writes_nan_as_null() -> None:
    assert jsoncodec.dumps({"x": math.nan, "y": math.inf}) == b'{"x":null,"y":null}'
