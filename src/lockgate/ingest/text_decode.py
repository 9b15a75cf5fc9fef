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
    for enc in ("utf-8", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)
