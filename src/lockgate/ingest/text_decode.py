"""Turn bytes that are supposed to be text into a clean str, never failing."""

from __future__ import annotations

import codecs
import re

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0/C1 controls except \t and \n (\r is gone after newline normalisation); these confuse
# tokenizers and downstream display while carrying no meaning.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def bom_encoding(data: bytes) -> tuple[str, int] | None:
    """Encoding and BOM length if `data` starts with a byte-order mark."""
    # UTF-32-LE's BOM starts with UTF-16-LE's, so the longer ones are checked first.
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return enc, len(bom)
    return None


def decode_bytes(data: bytes) -> str:
    """BOM-aware decode, then strict UTF-8, then cp1252, then latin-1 (which cannot fail)."""
    found = bom_encoding(data)
    if found is not None:
        enc, skip = found
        text = data[skip:].decode(enc, errors="replace")
    else:
        text = _decode_no_bom(data)
    return clean_text(text)


def _decode_no_bom(data: bytes) -> str:
    return data.decode(detect_encoding(data), errors="replace")


# charset-normalizer cannot tell Western single-byte code pages apart on short texts (it calls
# French cp1252 "cp1250"), so it only overrides the cp1252 default when it recognises a
# non-Latin script with some confidence: Cyrillic, Greek, Hebrew, Arabic, CJK, UTF-16.
_NON_LATIN = ("cp1251", "koi8", "mac_cyrillic", "iso8859_5", "cp866", "cp1253", "iso8859_7",
              "cp1255", "iso8859_8", "cp1256", "iso8859_6", "cp932", "shift_jis", "euc",
              "gb", "big5", "cp949", "iso2022", "utf_16", "utf_32", "cp874", "tis")


def detect_encoding(data: bytes) -> str:
    """The encoding `decode_bytes` uses for `data` (BOM, UTF-8, a detected script, cp1252)."""
    found = bom_encoding(data)
    if found is not None:
        return found[0]
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:65536]).best()
    if best is not None and best.coherence >= 0.1 and best.encoding.startswith(_NON_LATIN):
        return str(best.encoding)
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)
