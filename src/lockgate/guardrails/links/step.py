"""The links step of a guard scan on answers and retrieved chunks: rewrite the text, and
report what changed as an outcome, so the trace, the events and the metrics show it like
any scanner's redaction."""

from __future__ import annotations

import time

from lockgate.config import LinkPolicy
from lockgate.guardrails.base import Finding, ScannerOutcome
from lockgate.guardrails.links.rewrite import Change, defang

NAME = "links"
_TYPES = {"image": "IMAGE", "tag": "HTML", "comment": "HTML"}


def defang_links(text: str, policy: LinkPolicy) -> tuple[str, ScannerOutcome | None]:
    """The rewritten text, and an outcome when anything changed (None otherwise)."""
    t0 = time.perf_counter()
    try:
        rewrite = defang(text, policy)
    except Exception as exc:  # noqa: BLE001 - what could not be checked is not let through
        ms = (time.perf_counter() - t0) * 1000
        return text, ScannerOutcome(NAME, "block", [], ms, f"{type(exc).__name__}: {exc}")
    if not rewrite.changes:
        return text, None
    ms = (time.perf_counter() - t0) * 1000
    findings = [_finding(c) for c in rewrite.changes]
    return rewrite.text, ScannerOutcome(NAME, "redact", findings, ms, rewrite=True)


def _finding(change: Change) -> Finding:
    what = "removed" if change.kind in ("image", "tag", "comment", "refdef") else "made plain text"
    to = f" (to {change.host})" if change.host else ""
    return Finding(
        _TYPES.get(change.kind, "LINK"),
        change.start,
        change.end,
        1.0,
        NAME,
        change.replacement,
        f"{change.kind}{to} {what}",
    )
