"""Schema migrations on a real SQLite file: applied once, recorded, atomic, WAL on; and
m0025's PostgreSQL full-text index on a throwaway PostgreSQL database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text

from lockgate.store import migrations
from lockgate.store.db import make_engine
from lockgate.store.fulltext import PostgresFts
from lockgate.store.migrations import Migration, available, migrate
from tests.support.postgres import throwaway_database

TABLES = {
    "documents",
    "document_versions",
    "chunks",
    "quarantine",
    "meta",
    "ingest_runs",
    "traces",
    "chunks_fts",
    "schema_migrations",
}


def engine_at(path: Path) -> Engine:
    return make_engine(f"sqlite:///{path}")


def tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
        return {r[0] for r in rows}


def recorded(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT version, name FROM schema_migrations ORDER BY version"))
        return [(r[0], r[1]) for r in rows]


def test_fresh_store_applies_all_then_nothing(tmp_path: Path) -> None:
    engine = engine_at(tmp_path / "fresh.db")
    assert tables(engine) == set()
    every = [m.version for m in available()]
    assert every and every == sorted(every) and every[0] == 1

    assert migrate(engine) == every
    assert recorded(engine) == [(m.version, m.name) for m in available()]
    assert recorded(engine)[0] == (1, "initial")
    assert tables(engine) >= TABLES
    with engine.connect() as conn:
        generation = conn.execute(
            text("SELECT value FROM meta WHERE key = 'index_generation'")
        ).scalar_one()
        applied_at = conn.execute(text("SELECT min(applied_at) FROM schema_migrations")).scalar()
    assert generation == "0"
    assert applied_at > 0

    assert migrate(engine) == []
    assert recorded(engine) == [(m.version, m.name) for m in available()]
    # A new engine (a new process) on the same file sees it up to date too.
    engine.dispose()
    assert migrate(engine_at(tmp_path / "fresh.db")) == []


def test_wal_journal_mode(tmp_path: Path) -> None:
    engine = engine_at(tmp_path / "wal.db")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "wal.db-wal").exists()


def test_fts_table_is_usable(tmp_path: Path) -> None:
    engine = engine_at(tmp_path / "fts.db")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO chunks_fts (rowid, heading, text) VALUES (7, 'Refunds', :t)"),
            {"t": "Refunds are issued within fourteen days."},
        )
        # The porter stemmer matches "refunded" to "refunds".
        hit = conn.execute(
            text("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'refunded'")
        ).scalar()
    assert hit == 7


def test_concurrent_migrate_applies_each_version_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            engine = engine_at(path)
            start.wait(timeout=30)
            results.append(migrate(engine))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    every = [m.version for m in available()]
    assert sorted(v for r in results for v in r) == every
    assert [v for v, _ in recorded(engine_at(path))] == every


def test_failed_migration_rolls_back_and_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_at(tmp_path / "atomic.db")
    migrate(engine)
    next_version = available()[-1].version + 1
    real = available()

    def broken(conn: Connection, dialect: str) -> None:
        conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('half', '1')"))
        raise RuntimeError("migration failed half-way")

    monkeypatch.setattr(
        migrations, "available", lambda: [*real, Migration(next_version, "broken", broken)]
    )
    with pytest.raises(RuntimeError, match="half-way"):
        migrate(engine)
    # Nothing of the failed migration is left: not its table, its data, nor its record.
    assert "half_done" not in tables(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM meta WHERE key = 'half'")).scalar() == 0
    assert next_version not in [v for v, _ in recorded(engine)]

    def fixed(conn: Connection, dialect: str) -> None:
        conn.execute(text("CREATE TABLE half_done (id INTEGER PRIMARY KEY)"))

    monkeypatch.setattr(
        migrations, "available", lambda: [*real, Migration(next_version, "fixed", fixed)]
    )
    assert migrate(engine) == [next_version]
    assert "half_done" in tables(engine)
    assert recorded(engine)[-1] == (next_version, "fixed")


def test_m0025_indexes_the_chunks_a_postgresql_store_already_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with throwaway_database("m0025", empty=True) as engine:
        every = available()
        monkeypatch.setattr(migrations, "available", lambda: [m for m in every if m.version < 25])
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO documents (source, status, created_at, updated_at, "
                    "last_seen_at) VALUES ('a.pdf', 'active', 0, 0, 0)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO document_versions (document_id, version, content_hash, size, "
                    "mtime, format, parser, parser_version, title, chunk_count, status, "
                    "created_at) VALUES (1, 1, 'h', 1, 0, 'pdf', 'p', '1', 'Expenses', 2, "
                    "'active', 0)"
                )
            )
            for cid, active, body in ((1, 1, "Trains in second class."), (2, 0, "Old trains.")):
                conn.execute(
                    text(
                        "INSERT INTO chunks (id, document_id, version_id, position, text, "
                        "heading_path, active, created_at) "
                        "VALUES (:id, 1, 1, 0, :t, '[\"Rail\"]', :a, 0)"
                    ),
                    {"id": cid, "t": body, "a": active},
                )
        monkeypatch.setattr(migrations, "available", lambda: every)
        assert 25 in migrate(engine)
        with engine.connect() as conn:
            indexed = conn.execute(text("SELECT chunk_id FROM chunks_tsv")).scalars().all()
            uses_gin = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_chunks_tsv'")
            ).scalar_one()
        assert indexed == [1]  # the retired chunk stays out, as in FTS5
        assert "gin" in uses_gin.lower()
        index = PostgresFts(engine)
        # The title and headings are in the heading field, the text in the body.
        assert [h.chunk_id for h in index.search("expenses", 5)] == [1]
        assert [h.chunk_id for h in index.search("rail train", 5)] == [1]


def test_m0025_changes_nothing_on_sqlite(tmp_path: Path) -> None:
    engine = engine_at(tmp_path / "m0025.db")
    migrate(engine)
    assert "chunks_tsv" not in tables(engine)
