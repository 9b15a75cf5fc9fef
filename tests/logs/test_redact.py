"""The log redaction filter on real loggers: planted e-mail, card and phone numbers in a
template, in arguments, in an exception and in uvicorn's access-log arguments never reach
the emitted line or the record other handlers see; the set-up is idempotent, can be turned
off by config, and the filter is cheap."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from lockgate.config import Settings
from lockgate.logs.redact import RedactPII, redact
from lockgate.logs.setup import install, set_redaction, uvicorn_log_config

EMAIL = "planted.person@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415 555 2671"
PLANTED = (EMAIL, CARD, PHONE)


@pytest.fixture
def lockgate_logs() -> Iterator[None]:
    """The CLI set-up, taken down again afterwards."""
    root = logging.getLogger("lockgate")
    before = list(root.handlers)
    try:
        install(redact=True)
        yield
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)


@contextmanager
def as_in_the_cli(capsys: pytest.CaptureFixture[str]) -> Iterator[list[str]]:
    """No root handlers (pytest's set aside), as in a plain `lockgate` command; yields the
    stderr written meanwhile, once the block ends."""
    root = logging.getLogger()
    saved = list(root.handlers)
    out: list[str] = []
    capsys.readouterr()
    for h in saved:
        root.removeHandler(h)
    try:
        yield out
    finally:
        for h in saved:
            root.addHandler(h)
        out.append(capsys.readouterr().err)


def _clean(text: str) -> None:
    for value in PLANTED:
        assert value not in text, f"{value!r} leaked into {text!r}"


def test_redact_replaces_each_finding_with_its_type() -> None:
    text = f"mail {EMAIL}, card {CARD}, call {PHONE}"
    assert redact(text) == "mail <EMAIL>, card <CREDIT_CARD>, call <PHONE>"
    assert redact("nothing to see at 127.0.0.1:8080") == "nothing to see at 127.0.0.1:8080"


def _log_planted(log: logging.Logger) -> None:
    log.warning(f"user wrote {EMAIL}")  # noqa: G004 - the f-string is what is tested
    log.warning("card %s and phone %s", CARD, PHONE)
    log.warning("split %s@%s", "planted.person", "example.com")
    log.error("as a dict %(who)s", {"who": EMAIL})
    try:
        raise ValueError(f"cannot parse {CARD!r} from {EMAIL}")
    except ValueError:
        log.exception("unhandled error in turn")


def test_planted_pii_never_reaches_the_line(lockgate_logs, capsys) -> None:
    with as_in_the_cli(capsys) as err:
        _log_planted(logging.getLogger("lockgate.gateway.test"))
    out = err[0]
    _clean(out)
    assert out.count("<EMAIL>") == 4 and "<CREDIT_CARD>" in out and "<PHONE>" in out
    assert "ValueError: cannot parse '<CREDIT_CARD>' from <EMAIL>" in out  # the traceback


def test_handlers_above_receive_the_record_redacted(lockgate_logs, caplog, capsys) -> None:
    with caplog.at_level(logging.INFO):
        _log_planted(logging.getLogger("lockgate.gateway.test"))
    assert len(caplog.records) == 5
    for record in caplog.records:
        _clean(record.getMessage())
        _clean(record.exc_text or "")
    _clean(caplog.text)
    assert capsys.readouterr().err == ""  # logged once, by the configured handler


def test_uvicorn_access_records_keep_their_shape() -> None:
    from uvicorn.logging import AccessFormatter

    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    set_redaction(handler, True)
    log = logging.getLogger("uvicorn.access")
    log.addHandler(handler)
    try:
        args = ("127.0.0.1:5555", "GET", f"/v1/models?email={EMAIL}", "1.1", 200)
        log.log(logging.WARNING, '%s - "%s %s HTTP/%s" %d', *args)
    finally:
        log.removeHandler(handler)
    line = handler.stream.getvalue()
    _clean(line)
    assert '127.0.0.1:5555 - "GET /v1/models?email=<EMAIL> HTTP/1.1" 200' in line


def test_install_is_idempotent_and_can_be_turned_off(lockgate_logs, capsys) -> None:
    install(redact=True)
    root = logging.getLogger("lockgate")
    ours = [h for h in root.handlers if h.get_name() == "lockgate-stderr"]
    assert len(ours) == 1 and sum(isinstance(f, RedactPII) for f in ours[0].filters) == 1
    install(redact=False)
    with as_in_the_cli(capsys) as err:
        logging.getLogger("lockgate.test").warning("mail %s", EMAIL)
    assert EMAIL in err[0]
    assert Settings().privacy.redact_logs is True  # on unless the config says otherwise


def test_serve_log_config_filters_every_handler() -> None:
    from uvicorn.config import LOGGING_CONFIG

    config = uvicorn_log_config(LOGGING_CONFIG, redact=True)
    assert set(config["handlers"]) == {"default", "access"}
    assert all("redact_pii" in h["filters"] for h in config["handlers"].values())
    assert config["loggers"]["lockgate"]["handlers"] == ["default"]
    assert "filters" not in LOGGING_CONFIG["handlers"]["default"]  # uvicorn's own is untouched
    off = uvicorn_log_config(LOGGING_CONFIG, redact=False)
    assert all("redact_pii" not in h.get("filters", []) for h in off["handlers"].values())


def test_the_filter_is_cheap() -> None:
    # An access-log line as uvicorn makes it; generous bound for a busy 2-core machine (about
    # 30 µs on an idle one).
    f = RedactPII()
    template = '%s - "%s %s HTTP/%s" %d'
    args = ("127.0.0.1:51234", "POST", "/v1/chat/completions", "1.1", 200)
    t0 = time.perf_counter()
    for _ in range(2000):
        f.filter(logging.LogRecord("uvicorn.access", logging.INFO, "", 1, template, args, None))
    per_line = (time.perf_counter() - t0) / 2000
    assert per_line < 1e-3, f"{per_line * 1e6:.0f} µs per line"
