"""Scanning a stream's next piece together with the end of what was already released.

A value split over two pieces ("bob.secret" then "@example.com", a canary in halves) is in
neither piece alone, so each piece is scanned behind the tail of the released text. What
lies wholly inside that tail was decided when it was released and is not reported again;
what straddles it can no longer be redacted (its start is on the caller's screen), so a
redact or block rule ends the stream instead."""

from __future__ import annotations

from dataclasses import replace

from lockgate.guardrails.base import Action, ScannerOutcome

# Enough for the longest value a scanner must see whole: an e-mail address with its
# 64-character local part, a spaced IBAN, a canary written one character per line.
TAIL_CHARS = 200


def continued(outcome: ScannerOutcome, cut: int) -> ScannerOutcome:
    """`outcome` of a scan of released-tail + piece, as an outcome for the piece alone;
    `cut` is the length of the tail."""
    if outcome.error is not None or not outcome.findings:
        return outcome
    kept = []
    straddles = False
    for f in outcome.findings:
        if f.end <= cut:
            continue
        if f.start < cut:
            straddles = True
            f = replace(f, start=0, end=f.end - cut,
                        detail=f"{f.detail} (begins in text already released)".strip())
        else:
            f = replace(f, start=f.start - cut, end=f.end - cut)
        kept.append(f)
    action: Action = outcome.action
    if not kept:
        action = "allow"
    elif straddles and action in ("redact", "block"):
        action = "block"
    return replace(outcome, action=action, findings=kept)
