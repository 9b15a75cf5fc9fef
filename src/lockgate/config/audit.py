"""The audit log: whether it is written, which kinds of entry, where its signing key is."""

from __future__ import annotations

import os
from fnmatch import fnmatchcase

from pydantic import Field

from lockgate.config._base import Strict


def _all_kinds() -> list[str]:
    return ["*"]


class AuditConfig(Strict):
    enabled: bool = True
    # Shell-style patterns of the kinds to record (`auth.*`, `document.access`); `[]` records
    # nothing. Verification always covers the whole log, whatever was recorded.
    kinds: list[str] = Field(default_factory=_all_kinds)
    # The environment variable holding the key that signs the head of the chain (HMAC-SHA256).
    # Unset: the chain is verified against itself and its unsigned head only.
    key_env: str = "LOCKGATE_AUDIT_KEY"

    def records(self, kind: str) -> bool:
        return self.enabled and any(fnmatchcase(kind, p) for p in self.kinds)

    def key(self) -> bytes | None:
        value = os.environ.get(self.key_env, "")
        return value.encode() if value else None
