"""`store/tables.py` against a database built by the migrations, which are the source of truth.

A column added to a migration but not to `tables.py` (or the other way round), a column whose
NOT NULL or primary key differs, or one stored as another kind of value (integer, real, text,
bytes) fails here, on SQLite always and on PostgreSQL when a server and a driver are at hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Engine,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    inspect,
    text,
)
from sqlalchemy.types import TypeEngine

from lockgate.store import tables
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.support.postgres import throwaway_database

SRC = Path(__file__).resolve().parents[2] / "src" / "lockgate"

# Tables in a migrated store that have, and need, no `Table` in tables.py:
MIGRATION_BOOKKEEPING = {"schema_migrations"}  # written by the migration runner only
FULL_TEXT = {  # SQLite only: the FTS5 index (queried as text in store/fulltext.py) ...
    "chunks_fts",
    # ... and the shadow tables SQLite keeps for it
    "chunks_fts_config",
    "chunks_fts_content",
    "chunks_fts_data",
    "chunks_fts_docsize",
    "chunks_fts_idx",
}
# PostgreSQL only: the tsvector index (m0025, queried as text in store/fulltext.py).
PG_FULL_TEXT = {"chunks_tsv"}
NOT_DECLARED = MIGRATION_BOOKKEEPING | FULL_TEXT | PG_FULL_TEXT


# name -> (affinity, nullable, in the primary key); nullable is None for primary-key columns,
# because SQLite reports those nullable unless declared NOT NULL, whatever the table says.
Shape = dict[str, tuple[str, bool | None, bool]]


def affinity(kind: TypeEngine[object]) -> str:
    """The kind of value a column stores, on any dialect (BIGINT and INTEGER are both integer)."""
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, Float | Numeric):
        return "real"
    if isinstance(kind, String):
        return "text"
    if isinstance(kind, LargeBinary):
        return "blob"
    return f"unknown: {kind!r}"


def declared() -> dict[str, Shape]:
    return {
        name: {
            c.name: (affinity(c.type), None if c.primary_key else c.nullable, c.primary_key)
            for c in table.columns
        }
        for name, table in tables.metadata.tables.items()
    }


def reflected(engine: Engine) -> dict[str, Shape]:
    found = inspect(engine)
    out: dict[str, Shape] = {}
    for name in found.get_table_names():
        if name in NOT_DECLARED:
            continue
        pk = set(found.get_pk_constraint(name)["constrained_columns"])
        out[name] = {}
        for c in found.get_columns(name):
            key = c["name"] in pk
            out[name][c["name"]] = (affinity(c["type"]), None if key else c["nullable"], key)
    return out


def differences(want: dict[str, Shape], have: dict[str, Shape]) -> list[str]:
    """Readable lines, one per disagreement, so a failure says what to fix where."""
    out = [f"table {t} is in tables.py but not migrated" for t in sorted(want.keys() - have)]
    out += [f"table {t} is migrated but not in tables.py" for t in sorted(have.keys() - want)]
    for t in sorted(want.keys() & have.keys()):
        w, h = want[t], have[t]
        out += [f"{t}.{c} is in tables.py but not migrated" for c in sorted(w.keys() - h)]
        out += [f"{t}.{c} is migrated but not in tables.py" for c in sorted(h.keys() - w)]
        for c in sorted(w.keys() & h.keys()):
            if w[c] != h[c]:
                out.append(
                    f"{t}.{c}: tables.py (affinity, nullable, pk) = {w[c]}, migrated = {h[c]}"
                )
    return out


def test_sqlite_store_matches_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    names = set(inspect(engine).get_table_names())
    # The exceptions are exactly what the migrations make, so a stale entry cannot hide a table.
    assert names >= MIGRATION_BOOKKEEPING | FULL_TEXT
    assert PG_FULL_TEXT.isdisjoint(names)
    drift = differences(declared(), reflected(engine))
    engine.dispose()
    assert not drift, "\n".join(drift)


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with throwaway_database("schema", empty=True) as engine:
        yield engine


def test_postgresql_store_matches_tables(pg_engine: Engine) -> None:
    migrate(pg_engine)
    names = set(inspect(pg_engine).get_table_names())
    assert FULL_TEXT.isdisjoint(names)
    assert names >= MIGRATION_BOOKKEEPING | PG_FULL_TEXT
    drift = differences(declared(), reflected(pg_engine))
    assert not drift, "\n".join(drift)


def test_postgresql_bigint_columns_are_declared_bigint(pg_engine: Engine) -> None:
    """SQLAlchemy's psycopg dialect casts each bound value to its column's declared type
    (`%(simhash)s::INTEGER`), so a BIGINT column declared `Integer` refuses values past 2**31:
    a chunk's 64-bit SimHash stopped every ingest on PostgreSQL."""
    migrate(pg_engine)
    found = inspect(pg_engine)
    narrow = [
        f"{name}.{c['name']}"
        for name, table in tables.metadata.tables.items()
        for c in found.get_columns(name)
        if isinstance(c["type"], BigInteger)
        and not isinstance(table.columns[c["name"]].type, BigInteger)
    ]
    assert narrow == []


def test_one_metadata_declares_every_table() -> None:
    """A private `MetaData()` elsewhere would hold tables this check never sees."""
    holders = sorted(
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "MetaData(" in p.read_text()
    )
    assert holders == ["store/tables.py"]


def test_postgresql_timestamps_keep_sub_second_precision(pg_engine: Engine) -> None:
    """A 4-byte REAL rounds an epoch timestamp to minutes; every float column is 8 bytes."""
    migrate(pg_engine)
    with pg_engine.connect() as conn:
        narrow = (
            conn.execute(
                text(
                    "SELECT table_name || '.' || column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND data_type = 'real'"
                )
            )
            .scalars()
            .all()
        )
        assert narrow == []
        stamp = 1_796_000_000.123456
        conn.execute(text("INSERT INTO schema_migrations VALUES (9999, 'probe', :t)"), {"t": stamp})
        back = conn.execute(
            text("SELECT applied_at FROM schema_migrations WHERE version = 9999")
        ).scalar_one()
    assert abs(back - stamp) < 1e-3
