"""A throwaway PostgreSQL database on the local server (127.0.0.1:5432, trust auth). Without
a driver or a server the test is skipped, saying why.

By default it is an already migrated one leased from the session's pool
(tests/support/store.py) and emptied when given back: creating, migrating and dropping a
database took 5-10 s a test. `empty=True` makes a bare database and drops it afterwards,
for the tests of migrations themselves."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from lockgate.store.db import make_engine
from tests.support import store

ADMIN_URL = "postgresql+{driver}://postgres@127.0.0.1:5432/postgres"
DRIVERS = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pg8000": "pg8000"}  # module: dialect


@contextmanager
def throwaway_database(prefix: str, empty: bool = False) -> Iterator[Engine]:
    driver = next((d for m, d in DRIVERS.items() if importlib.util.find_spec(m)), None)
    if driver is None:
        pytest.skip(f"no PostgreSQL driver ({', '.join(DRIVERS)}) is installed")
    if not empty and driver == "psycopg":
        with _leased() as engine:
            yield engine
        return
    admin_url = ADMIN_URL.format(driver=driver)
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"lockgate_{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server to create a database on ({admin_url}): {exc}")
    engine = make_engine(admin_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def _leased() -> Iterator[Engine]:
    databases = store.pool()
    try:
        name = databases.lease()
    except DBAPIError as exc:
        pytest.skip(f"no PostgreSQL server to create a database on ({store.SERVER}): {exc}")
    engine = make_engine(databases.url(name))
    try:
        yield engine
    finally:
        engine.dispose()
        databases.give_back(name)
