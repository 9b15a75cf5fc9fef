"""PII scanner (`pii`), input and output.

Structured types come from linear-time regexes checked by checksums and context
(`guardrails.pii.recognizers`): EMAIL, PHONE, CREDIT_CARD, IBAN, SSN, IP, DOB, SECRET, plus
street-form ADDRESS. With `ner: true`, spaCy's small English model adds PERSON and extends
street addresses with the place names around them; it reads only the first `ner_max_chars`
characters so its cost is bounded.

Params: `PIIParams` (all optional, defaults documented there).

On output (`ctx.direction == "out"`) a value the caller supplied (`ctx.user_text`) or that a
retrieved chunk contains (`ctx.chunks`) is not reported: repeating the caller's own email back
to them, or an address that is in the cited document, is not a leak."""

from __future__ import annotations

import logging
import re
from typing import ClassVar

from pydantic import Field, field_validator

from lockgate.guardrails.base import Finding, ScanContext, ScannerDeps, ScannerParams
from lockgate.guardrails.pii import ner
from lockgate.guardrails.pii.recognizers import (
    ALL_TYPES,
    Candidate,
    detect,
    resolve_overlaps,
)

log = logging.getLogger(__name__)

# Types compared digit-for-digit on output: "+1 (415) 555-2671" in the answer is the same
# number as "4155552671" in the question.
_COMPACT_TYPES = {"PHONE", "CREDIT_CARD", "IBAN", "SSN"}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_NER_SCORE = 0.8
# A place name within this many characters of a street address is part of that address.
_ADDRESS_GAP = 3


def _compact(s: str) -> str:
    return _NON_ALNUM.sub("", s.casefold())


def _check_types(types: list[str] | None) -> None:
    unknown = sorted(set(types or []) - set(ALL_TYPES))
    if unknown:
        raise ValueError(f"pii: unknown types {unknown} (known: {', '.join(ALL_TYPES)})")


class PIIParams(ScannerParams):
    types: list[str] | None = Field(None, description="types to report (default: all)")
    ner: bool = Field(False, description="load the NER model for PERSON/ADDRESS")
    ner_max_chars: int = Field(2000, description="how much of the text the model reads")

    @field_validator("types")
    @classmethod
    def _known_types(cls, v: list[str] | None) -> list[str] | None:
        _check_types(v)
        return v


class PIIScanner:
    name: ClassVar[str] = "pii"
    Params: ClassVar[type[PIIParams]] = PIIParams

    def __init__(
        self,
        types: list[str] | None = None,
        use_ner: bool = False,
        ner_max_chars: int = 2000,
    ) -> None:
        _check_types(types)
        self.types = tuple(types) if types else ALL_TYPES
        self.ner_max_chars = max(0, int(ner_max_chars))
        self.ner_error: str | None = None
        self.use_ner = use_ner and ("PERSON" in self.types or "ADDRESS" in self.types)
        if self.use_ner:
            # Loaded when the scanner is built (engine.warm() at start-up), never per request.
            try:
                ner.load()
            except ner.NerUnavailable as exc:
                # Regex detection still protects the structured types; the gap is logged
                # and reported in ctx.metrics rather than failing every request.
                self.ner_error = str(exc)
                self.use_ner = False
                log.warning("pii scanner: NER disabled: %s", exc)
        # Linear regexes over the text run on the caller's thread (see GuardEngine's
        # _inline); spaCy's model goes to the scanner pool and its budget.
        self.inline = not self.use_ner

    @classmethod
    def build(cls, params: PIIParams, deps: ScannerDeps) -> PIIScanner:
        del deps  # regexes and spaCy only: the shared embedder is not needed
        return cls(types=params.types, use_ner=params.ner, ner_max_chars=params.ner_max_chars)

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        cands = detect(text, [t for t in self.types if t != "PERSON"])
        if self.use_ner:
            cands = resolve_overlaps([*cands, *self._ner(text, cands)])
        elif self.ner_error is not None:
            ctx.metrics["pii_ner_unavailable"] = 1.0
        if ctx.direction == "out":
            cands = self._unsupplied(text, cands, ctx)
        return [Finding(c.type, c.start, c.end, c.score, self.name, None, c.detail) for c in cands]

    def _ner(self, text: str, regex_hits: list[Candidate]) -> list[Candidate]:
        head = text[: self.ner_max_chars]
        if not head.strip():
            return []
        out: list[Candidate] = []
        streets = [c for c in regex_hits if c.type == "ADDRESS"]
        for e in ner.entities(head):
            if e.label == "PERSON" and "PERSON" in self.types:
                value = head[e.start : e.end]
                # The small model tags stray capitalised words; a name has a capital letter
                # and no digits or '@' (those are emails/handles, found elsewhere).
                if any(ch.isupper() for ch in value) and not re.search(r"[\d@]", value):
                    out.append(Candidate("PERSON", e.start, e.end, _NER_SCORE, "ner"))
            elif e.label == "FAC" and "ADDRESS" in self.types:
                out.append(Candidate("ADDRESS", e.start, e.end, 0.6, "ner:fac"))
            elif e.label in ("GPE", "LOC") and "ADDRESS" in self.types:
                # A lone city or country ("the capital of France") identifies no one; it is an
                # address part only when it continues a street address.
                for i, s in enumerate(streets):
                    if s.end <= e.start <= s.end + _ADDRESS_GAP or s.start <= e.start < s.end:
                        grown = Candidate(
                            "ADDRESS", s.start, max(s.end, e.end), s.score, "street+ner"
                        )
                        streets[i] = grown
                        out.append(grown)
        return out

    def _unsupplied(self, text: str, cands: list[Candidate], ctx: ScanContext) -> list[Candidate]:
        sources = [ctx.user_text, *ctx.chunks]
        if not any(sources):
            return cands
        folded = "\n".join(s.casefold() for s in sources)
        compact: str | None = None
        keep: list[Candidate] = []
        for c in cands:
            value = text[c.start : c.end]
            if c.type in _COMPACT_TYPES:
                if compact is None:
                    compact = "\n".join(_compact(s) for s in sources)
                supplied = _compact(value) in compact
            else:
                if c.type == "EMAIL":
                    value = "".join(value.split())  # "bob\n@\nexample.com" is the same address
                supplied = value.casefold() in folded
            if not supplied:
                keep.append(c)
        return keep
