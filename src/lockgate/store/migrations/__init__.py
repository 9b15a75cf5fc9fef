"""Schema migrations: numbered modules `mNNNN_name.py`, each with `upgrade(conn, dialect)`.

Applied in order, each in its own transaction, and recorded in `schema_migrations`, so a
store is created and later upgraded by the same path.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from lockgate.store.db import transaction


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[Connection, str], None]


def available() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("m") or not info.name[1:5].isdigit():
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(Migration(int(info.name[1:5]), info.name[6:], module.upgrade))
    return sorted(found, key=lambda m: m.version)


def applied(engine: Engine) -> set[int]:
    # REAL is 4 bytes on PostgreSQL: too coarse for an epoch timestamp.
    real = "REAL" if engine.dialect.name == "sqlite" else "DOUBLE PRECISION"
    # As a writer from the start: on SQLite a read transaction that turns into a write after
    # another process wrote fails at once ("database is locked"), whatever the busy timeout.
    with transaction(engine) as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                f"version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {real} NOT NULL)"
            )
        )
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT version FROM schema_migrations"))}


def migrate(engine: Engine) -> list[int]:
    """Apply pending migrations; return the versions applied now."""
    done = applied(engine)
    ran = []
    for mig in available():
        if mig.version in done:
            continue
        with transaction(engine) as conn:
            # Another process may have applied it while we waited for the write lock.
            again = conn.execute(
                text("SELECT 1 FROM schema_migrations WHERE version = :v"), {"v": mig.version}
            ).first()
            if again:
                continue
            mig.upgrade(conn, engine.dialect.name)
            conn.execute(
                text("INSERT INTO schema_migrations VALUES (:v, :n, :t)"),
                {"v": mig.version, "n": mig.name, "t": time.time()},
            )
        ran.append(mig.version)
    return ran
