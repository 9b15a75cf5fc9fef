"""The store behind every test's home: SQLite (the default) or PostgreSQL.

With `LOCKGATE_TEST_STORE=postgresql` each home a test builds `Settings` for gets a database
of its own on the local server (127.0.0.1:5432, trust auth), as it gets its own SQLite file
otherwise: the same home, the same store; another home, another store. `Settings.store_url`
is where the default SQLite file is named, so that is what this replaces for the session;
an explicit `store.url` still wins. A child process (`lockgate serve` started by a test)
takes the URL in its environment: `store_env(home)`.

Databases are cloned from a template migrated once per session. Creating and dropping a
PostgreSQL database costs seconds on a busy box, so a home made under a test's `tmp_path`
gives its database back when the test ends, and the homes of a module's fixtures when the
module ends: its connections are cut, it is renamed (so nothing left connected can reach it
again by its old URL), its rows are deleted and the rows the migrations wrote put back, and
the next home reuses it. All are dropped at the end of the session.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from lockgate.config import Settings
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate

BACKEND = os.environ.get("LOCKGATE_TEST_STORE", "sqlite").strip().lower() or "sqlite"
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError(f"LOCKGATE_TEST_STORE must be sqlite or postgresql, not {BACKEND!r}")
SERVER = os.environ.get("LOCKGATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
# Durability of each commit is not what the tests check; not waiting for the WAL flush
# makes the many small transactions of the suite several times faster. This connection's
# setting only, so nobody else's databases on the server are touched.
OPTIONS = "?options=-csynchronous_commit%3Doff"
STORE_ENV = "LOCKGATE_STORE__URL"


def on_postgresql() -> bool:
    return BACKEND == "postgresql"


def _admin() -> Engine:
    return create_engine(
        f"{SERVER}/postgres{OPTIONS}", poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )


class PgPool:
    """Migrated databases for one test session, cloned from a template and reused."""

    def __init__(self) -> None:
        self.prefix = f"lockgate_t{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_template"
        self.admin = _admin()
        self.free: list[str] = []
        self.made: list[str] = []
        self.seeds: dict[str, list[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.serial = 0
        self._template_made = False

    def url(self, name: str) -> str:
        return f"{SERVER}/{name}{OPTIONS}"

    def _make_template(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        self._template_made = True
        engine = create_engine(self.url(self.template), poolclass=NullPool)
        try:
            migrate(engine)
            with engine.connect() as conn:
                tables = conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                ).scalars()
                for table in tables:
                    rows = conn.execute(text(f'SELECT * FROM "{table}"')).mappings().all()
                    self.seeds[table] = [dict(r) for r in rows]
        finally:
            engine.dispose()

    def lease(self) -> str:
        """The name of a migrated database nobody else uses until it is given back."""
        with self.lock:
            if self.free:
                return self.free.pop()
            if not self._template_made:
                self._make_template()
            self.serial += 1
            name = f"{self.prefix}_{self.serial}"
            self.made.append(name)
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def _fresh_name(self) -> str:
        with self.lock:
            self.serial += 1
            return f"{self.prefix}_{self.serial}"

    def _retire(self, name: str) -> str:
        """Cut everything still connected to `name` off it for good, and return the name it
        now has. What a test leaves connected (a pool it never disposed, a writer thread of
        services it never closed) would reconnect by URL and write into the next test's
        rows; under a new name that URL no longer reaches it."""
        fresh = self._fresh_name()
        with self.admin.connect() as conn:
            for _ in range(50):
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": name},
                )
                try:
                    conn.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{fresh}"'))
                except OperationalError:
                    # Reconnected between the two statements: cut it off again.
                    continue
                break
            else:
                raise RuntimeError(f"could not detach test database {name}")
        with self.lock:
            self.made[self.made.index(name)] = fresh
        return fresh

    def give_back(self, name: str) -> None:
        """Back to the state `lease` gave it in, then free for the next lease."""
        name = self._retire(name)
        engine = create_engine(self.url(name), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                # Replica mode skips foreign-key triggers, so tables empty in any order.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for table in self.seeds:
                    conn.execute(text(f'DELETE FROM "{table}"'))
                conn.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))
                for table, rows in self.seeds.items():
                    if rows:
                        names = ", ".join(f'"{c}"' for c in rows[0])
                        values = ", ".join(f":{c}" for c in rows[0])
                        conn.execute(
                            text(f'INSERT INTO "{table}" ({names}) VALUES ({values})'), rows
                        )
        finally:
            engine.dispose()
        with self.lock:
            self.free.append(name)

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in [*self.made, *([self.template] if self._template_made else [])]:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


_pool: PgPool | None = None


def pool() -> PgPool:
    """The session's pool of migrated PostgreSQL databases (made on first use)."""
    global _pool
    if _pool is None:
        _pool = PgPool()
    return _pool


class PgHomes:
    """A leased database per home, for one test session."""

    def __init__(self, databases: PgPool) -> None:
        self.databases = databases
        self.by_home: dict[str, str] = {}
        self.lock = threading.Lock()

    def url_for(self, home: Path) -> str:
        key = str(Path(home).resolve())
        with self.lock:
            name = self.by_home.get(key)
            if name is None:
                name = self.by_home[key] = self.databases.lease()
        return self.databases.url(name)

    def homes(self) -> set[str]:
        with self.lock:
            return set(self.by_home)

    def release(self, under: Path, since: set[str]) -> None:
        """Give back the databases of homes under `under` first used after `since`."""
        root = str(under.resolve())
        with self.lock:
            done = [
                h
                for h in self.by_home
                if h not in since and (h == root or h.startswith(root + "/"))
            ]
            names = [self.by_home.pop(h) for h in done]
        for name in names:
            self.databases.give_back(name)

    def release_since(self, since: set[str]) -> None:
        """Give back the databases of every home first used after `since` (the homes of a
        module's fixtures, at the module's end: kept to the session's end, their idle pools
        added up to more connections than the server allows)."""
        with self.lock:
            names = [self.by_home.pop(h) for h in list(self.by_home) if h not in since]
        for name in names:
            self.databases.give_back(name)


_homes: PgHomes | None = None


@contextmanager
def migrated_engine(tmp_path: Path, name: str = "store.db") -> Iterator[Engine]:
    """A migrated store on the session's backend, for a test that builds repositories on an
    engine of its own instead of a home: the SQLite file `tmp_path / name`, or on PostgreSQL
    a database leased from the session's pool (emptied and given back afterwards)."""
    if not on_postgresql():
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        try:
            migrate(engine)
            yield engine
        finally:
            engine.dispose()
        return
    databases = pool()
    leased = databases.lease()
    engine = make_engine(databases.url(leased))
    try:
        yield engine
    finally:
        engine.dispose()
        databases.give_back(leased)


def store_env(home: Path) -> dict[str, str]:
    """The environment a child process needs to open `home`'s store (empty on SQLite)."""
    if _homes is None:
        return {}
    return {STORE_ENV: _homes.url_for(home)}


def stored_bytes(home: Path) -> bytes:
    """What `home`'s store holds, to look for plaintext in: the SQLite files' bytes, or on
    PostgreSQL (whose files are the server's) every stored value of every table as text."""
    if _homes is None:
        return b"".join(p.read_bytes() for p in sorted(home.glob("lockgate.db*")))
    engine = create_engine(_homes.url_for(home), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = list(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                ).scalars()
            )
            return b"".join(
                str(tuple(row)).encode()
                for table in tables
                for row in conn.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608
            )
    finally:
        engine.dispose()


def _check_server() -> None:
    try:
        with _admin().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver or connection error: say it and stop
        pytest.exit(
            f"LOCKGATE_TEST_STORE=postgresql, but no PostgreSQL at {SERVER}: {exc}", returncode=4
        )


def session() -> Iterator[None]:
    """Session fixture body: on PostgreSQL, every home's default store is a database.
    Either way the pool's databases (tests/support/postgres.py leases them too) are
    dropped at the end."""
    global _homes, _pool
    if not on_postgresql():
        try:
            yield
        finally:
            if _pool is not None:
                _pool.close()
                _pool = None
        return
    _check_server()
    homes = PgHomes(pool())
    original = Settings.store_url

    def store_url(self: Settings) -> str:
        return self.store.url or homes.url_for(self.home)

    _homes = homes
    Settings.store_url = property(store_url)  # type: ignore[assignment, method-assign]
    try:
        yield
    finally:
        Settings.store_url = original  # type: ignore[method-assign]
        _homes = None
        homes.databases.close()
        _pool = None


def per_module() -> Iterator[None]:
    """Module fixture body: hands back the databases of the module's homes."""
    if _homes is None:
        yield
        return
    before = _homes.homes()
    yield
    if _homes is not None:
        _homes.release_since(before)


def per_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Function fixture body: hands back the databases of the test's own homes."""
    if _homes is None:
        yield
        return
    before = _homes.homes()
    leaked_before = os.environ.get(STORE_ENV)
    yield
    if os.environ.get(STORE_ENV) != leaked_before:
        # A store URL left in the environment sends every later test's home to this
        # test's database (given back and reused meanwhile): rows seen across tests.
        os.environ.pop(STORE_ENV, None)
        pytest.fail(f"the test left {STORE_ENV} set; use monkeypatch.setenv")
    tmp = request.node.funcargs.get("tmp_path")
    if isinstance(tmp, Path):
        _homes.release(tmp, before)
