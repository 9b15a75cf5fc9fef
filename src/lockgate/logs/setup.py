"""Where Lockgate's log lines go, and the PII filter on the way there.

`install` is the command line's set-up: a stderr handler on the `lockgate` logger that
prints warnings and worse when nothing else would (as Python's last-resort handler did
before), and the redaction filter on every handler of the `lockgate` and uvicorn loggers.
Since the filter redacts the record itself, handlers higher up (an embedding application's
root handlers) receive it redacted too. `lockgate serve` hands uvicorn a logging
config built by `uvicorn_log_config`, which adds the same filter to uvicorn's handlers and
routes the `lockgate` loggers through them.
"""

from __future__ import annotations

import copy
import logging
import sys
from typing import Any, TextIO

from lockgate.logs.redact import RedactPII

LOGGERS = ("lockgate", "uvicorn", "uvicorn.error", "uvicorn.access")
_HANDLER_NAME = "lockgate-stderr"
_FILTER_NAME = "redact_pii"


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time, and only when the root logger has no
    handler of its own: where logging is configured (an application, a test runner), the
    record goes there by propagation and printing it here as well would double it."""

    def __init__(self, level: int = logging.WARNING) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def set_redaction(handler: logging.Handler, enabled: bool) -> None:
    """Put the PII filter on `handler` (once), or take it off."""
    for f in [f for f in handler.filters if isinstance(f, RedactPII)]:
        handler.removeFilter(f)
    if enabled:
        handler.addFilter(RedactPII())


def install(redact: bool) -> None:
    """The CLI's logging set-up; safe to call again (a second call only updates the filter)."""
    root = logging.getLogger("lockgate")
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for name in LOGGERS:
        for h in logging.getLogger(name).handlers:
            set_redaction(h, redact)


def uvicorn_log_config(base: dict[str, Any], redact: bool) -> dict[str, Any]:
    """uvicorn's logging config (`base`, its LOGGING_CONFIG) with the `lockgate` loggers on
    uvicorn's default handler, and, with `redact`, the PII filter on every handler."""
    config = copy.deepcopy(base)
    config.setdefault("loggers", {})["lockgate"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    if redact:
        config.setdefault("filters", {})[_FILTER_NAME] = {"()": RedactPII}
        for handler in config.get("handlers", {}).values():
            handler["filters"] = [*handler.get("filters", []), _FILTER_NAME]
    return config
