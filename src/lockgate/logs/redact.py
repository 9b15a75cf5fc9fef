"""PII out of log lines: a `logging.Filter` that replaces what the guardrails' regex
detectors find (e-mail addresses, card and phone numbers, IBANs, SSNs, secrets, …) with a
placeholder such as `<EMAIL>` or `<CREDIT_CARD>`.

Log lines carry user text more often than anyone plans: a request path with a query, an
exception quoting the input it choked on. Only the linear-time regex recognizers of
`lockgate.guardrails.pii` run here (no NER model): a line without PII costs one scan of its
formatted message (tens of microseconds); only a line with findings is taken apart.

The filter works on the record itself (template, each argument, the formatted traceback),
so every handler after it sees the redacted record. It is attached to handlers (see
`lockgate.logs.setup`): a filter on a logger would miss the records of its
child loggers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lockgate.guardrails.pii.recognizers import STRUCTURED_TYPES, detect

# Regex-level types only: PERSON needs the NER model.
TYPES = (*STRUCTURED_TYPES, "ADDRESS")
# The guardrails' default rule threshold: below it a candidate is weak (a loopback address
# in "running on http://127.0.0.1:8080" scores 0.3, a private one 0.7).
MIN_SCORE = 0.5
_MARK = "_lockgate_redacted"
# uvicorn's access formatter unpacks these five arguments itself: they stay a tuple.
_ARGS_READ_BY_FORMATTER = {"uvicorn.access"}
_PLAIN = (int, float, bool, type(None))


def redact(text: str) -> str:
    """`text` with each PII finding replaced by `<TYPE>`."""
    found = [c for c in detect(text, TYPES) if c.score >= MIN_SCORE]
    if not found:
        return text
    out: list[str] = []
    at = 0
    for c in found:  # sorted and non-overlapping (detect resolves overlaps)
        out.append(text[at : c.start])
        out.append(f"<{c.type}>")
        at = c.end
    out.append(text[at:])
    return "".join(out)


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, _PLAIN):
        return value
    # An object is kept (so %r and %d still work) unless its text holds PII.
    text = str(value)
    clean = redact(text)
    return value if clean == text else clean


class RedactPII(logging.Filter):
    """Redacts a record in place; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MARK, False):
            return True  # already done by a handler before this one
        setattr(record, _MARK, True)
        try:
            self._redact(record)
        except Exception:  # noqa: BLE001 - a log line is never lost to its redaction
            record.msg, record.args = "<log line withheld: redaction failed>", ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        if record.exc_info and not record.exc_text:
            # Formatted here so that handlers use this text instead of formatting the
            # exception (whose message may quote the input) themselves.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: redact the pieces instead
            message = None
        # The common case, a line with no PII, costs one scan of the joined message.
        if message is not None and redact(message) == message:
            return
        self._redact_pieces(record)

    def _redact_pieces(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        elif not isinstance(record.msg, _PLAIN):
            record.msg = _redact_arg(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact_arg(a) for a in args)
        elif isinstance(args, Mapping):
            record.args = {k: _redact_arg(v) for k, v in args.items()}
        if record.args and record.name not in _ARGS_READ_BY_FORMATTER:
            # PII split between the template and an argument shows only once joined.
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
