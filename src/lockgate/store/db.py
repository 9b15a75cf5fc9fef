"""Engine creation. SQLite gets WAL so readers (the gateway) never block the writer (ingest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, Insert, Table, create_engine, event
from sqlalchemy.engine import make_url


def _private_file(path: Path) -> None:
    """The store holds documents, traces and keys: readable by its owner only. SQLite gives
    its -wal and -shm files the database file's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def _set_wal(cur: Any) -> None:
    """Switch a new database file to WAL. The switch needs the file to itself and SQLite does
    not wait for it on busy_timeout, so processes starting together retry for a while."""
    import sqlite3
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# PostgreSQL's text type cannot hold NUL, which SQLite stores like any other character; a
# caller's "\x00" in a query parameter or a message turned a request into a 500. It is
# written as U+FFFD, the character for "a code point that could not be represented".
_NUL = "\x00"


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, "\ufffd") if _NUL in value else value
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_without_nul(v) for v in value)
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return _NUL in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _postgres_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, future=True)

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _no_nul(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> tuple[str, Any]:
        if _has_nul(parameters):
            parameters = _without_nul(parameters)
        return statement, parameters

    return engine


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return _postgres_engine(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    if parsed.database and parsed.database != ":memory:":
        _private_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN in a way that breaks atomic
        # multi-statement units; take control of BEGIN ourselves (SQLAlchemy docs recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # Asked first: setting the mode takes a lock without waiting on busy_timeout, so a
        # connection opened while another migrates or writes failed with "database is
        # locked"; once the file is in WAL mode (it stays so) there is nothing to set.
        cur.execute("PRAGMA busy_timeout=30000")
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            _set_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def transaction(engine: Engine, write: bool = True) -> Iterator[Connection]:
    """One unit of work. On SQLite a writer takes the lock up front (BEGIN IMMEDIATE) so two
    writers queue on busy_timeout instead of failing half-way through with 'database is locked'."""
    with engine.connect() as conn:
        conn.info["write"] = write
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("write", None)


def insert_missing(conn: Connection, table: Table) -> Insert:
    """An INSERT that leaves an existing row (same primary or unique key) alone, on both
    dialects: `INSERT ... ON CONFLICT DO NOTHING`."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the one row an INSERT just wrote (an auto-generated integer id)."""
    key = result.inserted_primary_key
    if key is None:  # only for statements that are not a single-row INSERT
        raise TypeError("not the result of a single-row INSERT")
    return int(key[0])
