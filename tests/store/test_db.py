"""Engines: on PostgreSQL, whose text type cannot hold NUL, a caller's "\\x00" neither fails
a lookup nor a write (SQLite stores it as it is)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from lockgate.store import tables as tb
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.support.postgres import throwaway_database


def _write_and_read(engine_url: str) -> tuple[object, object]:
    engine = make_engine(engine_url)
    migrate(engine)
    try:
        with engine.begin() as conn:
            conn.execute(
                tb.meta.insert(), [{"key": "a\x00b", "value": "x\x00y"}, {"key": "k", "value": "v"}]
            )
        with engine.connect() as conn:
            found = conn.execute(select(tb.meta.c.value).where(tb.meta.c.key == "a\x00b")).scalar()
            missing = conn.execute(
                text("SELECT value FROM meta WHERE key = :k"), {"k": "\x00"}
            ).scalar()
        return found, missing
    finally:
        engine.dispose()


def test_nul_in_parameters_on_postgresql() -> None:
    with throwaway_database("nul") as engine:
        url = engine.url.render_as_string(hide_password=False)
        found, missing = _write_and_read(url)
    assert found == "x\ufffdy"  # written as the replacement character, and found by it
    assert missing is None


def test_nul_in_parameters_on_sqlite(tmp_path: Path) -> None:
    assert _write_and_read(f"sqlite:///{tmp_path / 'nul.db'}") == ("x\x00y", None)
