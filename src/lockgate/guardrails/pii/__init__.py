"""PII detection helpers for the `pii` guardrail scanner.

`recognizers` holds the regex + checksum detectors (linear time, no model), `ner` the optional
spaCy person/address model, `checks` the validators (Luhn, IBAN mod-97, SSN ranges, entropy)."""

from lockgate.guardrails.pii.recognizers import STRUCTURED_TYPES, Candidate, detect

__all__ = ["STRUCTURED_TYPES", "Candidate", "detect"]
