"""Reversible redaction for one request: `<EMAIL_1>` goes to the model, the original comes back
in the answer to the same caller. The vault lives on the request context and dies with it."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")


class Vault:
    def __init__(self) -> None:
        self._placeholder: dict[tuple[str, str], str] = {}
        self._original: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._original)

    def placeholder(self, type_: str, value: str) -> str:
        key = (type_, value)
        if key not in self._placeholder:
            n = self._counts.get(type_, 0) + 1
            self._counts[type_] = n
            token = f"<{type_}_{n}>"
            self._placeholder[key] = token
            self._original[token] = value
        return self._placeholder[key]

    def restore(self, text: str) -> str:
        if not self._original:
            return text
        return PLACEHOLDER.sub(lambda m: self._original.get(m.group(0), m.group(0)), text)
